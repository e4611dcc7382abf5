import { createPrivateKey, createPublicKey } from "node:crypto";
import { childrenOf, readRoot } from "./asn1/der-reader.ts";
import { parseCertificate } from "./certificate.ts";
import { parseCrl } from "./crl.ts";
import { parseCsr } from "./csr.ts";
import { looksLikePem, parsePem } from "./pem.ts";

/** Kinds of PKI object Pier recognises in a file. */
export type PkiObjectKind = "certificate" | "csr" | "crl" | "private-key" | "encrypted-private-key" | "public-key" | "unknown";

/** One object found in a file, with how it was encoded. */
export interface PkiObject {
  readonly kind: PkiObjectKind;
  readonly der: Buffer;
  /** PEM label, absent for DER input. */
  readonly label?: string;
}

/** The objects of a file and its encoding; `garbage` when it is neither PEM nor DER. */
export interface PkiFile {
  readonly encoding: "pem" | "der" | "garbage" | "empty";
  readonly objects: PkiObject[];
  /** For PEM text that does not parse (`garbage`): why (a block cut short, damaged base64). */
  readonly pemProblem?: string;
}

const labelKinds: Readonly<Record<string, PkiObjectKind>> = {
  CERTIFICATE: "certificate",
  "TRUSTED CERTIFICATE": "certificate",
  "X509 CERTIFICATE": "certificate",
  "CERTIFICATE REQUEST": "csr",
  "NEW CERTIFICATE REQUEST": "csr",
  "X509 CRL": "crl",
  "PRIVATE KEY": "private-key",
  "RSA PRIVATE KEY": "private-key",
  "EC PRIVATE KEY": "private-key",
  "ENCRYPTED PRIVATE KEY": "encrypted-private-key",
  "PUBLIC KEY": "public-key",
  "RSA PUBLIC KEY": "public-key",
};

function attempt(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}

/** Works out what a DER blob is by trying each structure in turn. */
export function classifyDer(der: Buffer): PkiObjectKind {
  if (attempt(() => parseCertificate(der))) return "certificate";
  if (attempt(() => parseCsr(der))) return "csr";
  if (attempt(() => parseCrl(der))) return "crl";
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    if (attempt(() => createPrivateKey({ key: der, format: "der", type }))) return "private-key";
  }
  if (attempt(() => createPublicKey({ key: der, format: "der", type: "spki" }))) return "public-key";
  // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING } (RFC 5958 §3)
  if (attempt(() => {
    const [alg, data, extra] = childrenOf(readRoot(der));
    if (alg?.tag !== 0x30 || data?.tag !== 0x04 || extra) throw new Error("no");
  })) return "encrypted-private-key";
  return "unknown";
}

/**
 * Reads a file's worth of bytes into the PKI objects it holds (PEM blocks in order, or one DER
 * object). Never throws: damaged input comes back as `garbage` or `unknown` objects.
 *
 * @example
 * const { encoding, objects } = readPkiFile(readFileSync("client.crt"));
 */
export function readPkiFile(data: Buffer): PkiFile {
  if (data.length === 0 || data.toString("latin1").trim() === "") return { encoding: "empty", objects: [] };
  if (looksLikePem(data)) {
    try {
      const objects = parsePem(data)
        .filter((block) => block.label !== "EC PARAMETERS")
        .map((block) => {
          // The label must match the content: a certificate labelled PUBLIC KEY is unrecognised
          // (it crashed `pier ca inspect` before; found by fuzzing).
          const labelled = labelKinds[block.label];
          const kind = labelled && classifyDer(block.der) === labelled ? labelled : "unknown";
          return { kind, der: block.der, label: block.label };
        });
      return { encoding: "pem", objects };
    } catch (error) {
      return { encoding: "garbage", objects: [], pemProblem: (error as Error).message };
    }
  }
  const kind = attempt(() => readRoot(data)) ? classifyDer(data) : "unknown";
  return kind === "unknown" ? { encoding: "garbage", objects: [] } : { encoding: "der", objects: [{ kind, der: data }] };
}

/** Words for a kind, for messages: "a private key", "a CRL". */
export function describeKind(kind: PkiObjectKind): string {
  switch (kind) {
    case "certificate":
      return "a certificate";
    case "csr":
      return "a certificate signing request";
    case "crl":
      return "a CRL";
    case "private-key":
      return "a private key";
    case "encrypted-private-key":
      return "an encrypted private key";
    case "public-key":
      return "a public key";
    case "unknown":
      return "unrecognised data";
  }
}
