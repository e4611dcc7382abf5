import { createHash, createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCallback, generateKeyPairSync as nodeGenerateKeyPairSync, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { PkiError } from "./errors.ts";
import { Oid } from "./asn1/oids.ts";
import { nullValue, oid, sequence } from "./asn1/der-writer.ts";
import { looksLikePem, parsePem } from "./pem.ts";

/** Key algorithms Pier generates. ECDSA P-256 is the default: fast handshakes, small certificates. */
export const keyTypes = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096", "rsa-8192"] as const;
export type KeyType = (typeof keyTypes)[number];
export const defaultKeyType: KeyType = "ecdsa-p256";

/** A private key and its public half. */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Narrows a string to a `KeyType` or throws an error listing the accepted values. */
export function parseKeyType(value: string): KeyType {
  if ((keyTypes as readonly string[]).includes(value)) return value as KeyType;
  throw new PkiError("unsupported_key_type", `Unknown key type "${value}"; use one of ${keyTypes.join(", ")}.`);
}

/** True for key types whose generation takes long enough to deserve a progress indicator. */
export function isSlowKeyType(type: KeyType): boolean {
  return type === "rsa-4096" || type === "rsa-8192";
}

const generateAsync = promisify(generateKeyPairCallback);

function rsaBits(type: KeyType): number | undefined {
  const match = /^rsa-(\d+)$/.exec(type);
  return match ? Number(match[1]) : undefined;
}

/**
 * Generates a key pair off the main thread (RSA 8192 takes seconds).
 *
 * @example
 * const { privateKey } = await generateKeyPair("ecdsa-p256");
 */
export async function generateKeyPair(type: KeyType = defaultKeyType): Promise<KeyPair> {
  const bits = rsaBits(type);
  if (bits) return generateAsync("rsa", { modulusLength: bits, publicExponent: 0x10001 });
  if (type === "ed25519") return generateAsync("ed25519");
  return generateAsync("ec", { namedCurve: type === "ecdsa-p384" ? "P-384" : "P-256" });
}

/** Synchronous variant for hot paths with fast key types (ECDSA, Ed25519). */
export function generateKeyPairSync(type: KeyType = defaultKeyType): KeyPair {
  const bits = rsaBits(type);
  if (bits) return nodeGenerateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 0x10001 });
  if (type === "ed25519") return nodeGenerateKeyPairSync("ed25519");
  return nodeGenerateKeyPairSync("ec", { namedCurve: type === "ecdsa-p384" ? "P-384" : "P-256" });
}

/**
 * PKCS#8 PEM of a private key; encrypted with AES-256-CBC (PBES2) when a passphrase is given.
 *
 * @example
 * writeFileSync("ca.key", privateKeyToPem(key, passphrase), { mode: 0o600 });
 */
export function privateKeyToPem(key: KeyObject, passphrase?: string): string {
  if (passphrase !== undefined) {
    return key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }) as string;
  }
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

/** True when the PEM/DER holds an encrypted private key. */
export function isEncryptedPrivateKey(data: Buffer): boolean {
  if (!looksLikePem(data)) return false;
  return parsePem(data).some((b) => b.label === "ENCRYPTED PRIVATE KEY" || (b.label.endsWith("PRIVATE KEY") && data.includes("Proc-Type: 4,ENCRYPTED")));
}

/**
 * Loads a private key from PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8) or DER.
 * Throws `key_encrypted` when a passphrase is needed and `bad_passphrase` when it is wrong.
 */
export function loadPrivateKey(data: Buffer, passphrase?: string): KeyObject {
  const encrypted = isEncryptedPrivateKey(data);
  if (encrypted && passphrase === undefined) {
    throw new PkiError("key_encrypted", "The private key is encrypted; give its passphrase (--passphrase-file FILE or PIER_CA_PASSPHRASE).");
  }
  try {
    if (looksLikePem(data)) return createPrivateKey(passphrase === undefined ? { key: data, format: "pem" } : { key: data, format: "pem", passphrase });
    for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
      try {
        return createPrivateKey({ key: data, format: "der", type });
      } catch {
        // try the next encoding
      }
    }
    throw new Error("not a DER private key");
  } catch (error) {
    if (encrypted) throw new PkiError("bad_passphrase", "The passphrase does not decrypt this private key; check the passphrase file or PIER_CA_PASSPHRASE.", { cause: error });
    throw new PkiError("wrong_input_type", "This is not a private key in a format Pier reads (PEM or DER: PKCS#8, PKCS#1 or SEC1).", { cause: error });
  }
}

/** Human facts about a key: algorithm and size. */
export interface KeyDescription {
  readonly algorithm: "rsa" | "ec" | "ed25519" | "other";
  /** RSA modulus bits or EC field bits. */
  readonly bits: number;
  /** `P-256`, `P-384`… for EC keys. */
  readonly curve?: string;
  /** `ECDSA P-256`, `RSA 4096`, `Ed25519`. */
  readonly label: string;
}

/** Describes a public or private key. */
export function describeKey(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss": {
      const bits = details.modulusLength ?? 0;
      return { algorithm: "rsa", bits, label: `RSA ${bits}` };
    }
    case "ec": {
      const curve = details.namedCurve === "prime256v1" ? "P-256" : details.namedCurve === "secp384r1" ? "P-384" : details.namedCurve === "secp521r1" ? "P-521" : (details.namedCurve ?? "unknown");
      const bits = curve === "P-256" ? 256 : curve === "P-384" ? 384 : curve === "P-521" ? 521 : 0;
      return { algorithm: "ec", bits, curve, label: `ECDSA ${curve}` };
    }
    case "ed25519":
      return { algorithm: "ed25519", bits: 256, label: "Ed25519" };
    default:
      return { algorithm: "other", bits: 0, label: key.asymmetricKeyType ?? "unknown" };
  }
}

// Exporting a KeyObject costs ~50 µs; issuance needs the SPKI three times (certificate body,
// SKI, AKI), so it is computed once per key. Weak keys: the cache never keeps a key alive.
const spkiCache = new WeakMap<KeyObject, Buffer>();

/** DER SubjectPublicKeyInfo of a public or private key. */
export function spkiDer(key: KeyObject): Buffer {
  let der = spkiCache.get(key);
  if (!der) {
    const pub = key.type === "private" ? createPublicKey(key) : key;
    der = pub.export({ type: "spki", format: "der" });
    spkiCache.set(key, der);
  }
  return der;
}

/**
 * SHA-256 of the SubjectPublicKeyInfo, lowercase hex: the fingerprint Pier pins in `EDGE_KEY`
 * (the same value as `openssl pkey -pubout -outform der | sha256sum`).
 */
export function spkiSha256(key: KeyObject): string {
  return createHash("sha256").update(spkiDer(key)).digest("hex");
}

/** True when the private key is the other half of the public key. */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  return spkiDer(privateKey).equals(spkiDer(publicKey));
}

/** The signature algorithm Pier uses with a signing key, with its DER AlgorithmIdentifier. */
export interface SignatureScheme {
  readonly oid: string;
  readonly hash: string | null;
  readonly algorithmIdentifier: Buffer;
}

/** ECDSA with a hash matched to the curve, PKCS#1 v1.5 SHA-256 for RSA, pure Ed25519. */
export function signatureSchemeFor(key: KeyObject): SignatureScheme {
  const description = describeKey(key);
  switch (description.algorithm) {
    case "ec": {
      const [id, hash] = description.bits > 256 ? [Oid.ecdsaWithSha384, "sha384"] : [Oid.ecdsaWithSha256, "sha256"];
      return { oid: id, hash, algorithmIdentifier: sequence(oid(id)) };
    }
    case "rsa":
      // RFC 4055 §5: the parameters of sha256WithRSAEncryption are an explicit NULL.
      return { oid: Oid.sha256WithRsa, hash: "sha256", algorithmIdentifier: sequence(oid(Oid.sha256WithRsa), nullValue()) };
    case "ed25519":
      return { oid: Oid.ed25519, hash: null, algorithmIdentifier: sequence(oid(Oid.ed25519)) };
    case "other":
      throw new PkiError("unsupported_algorithm", `Pier cannot sign with a ${description.label} key; use ECDSA, RSA or Ed25519.`);
  }
}
