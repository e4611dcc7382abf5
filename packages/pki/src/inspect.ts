import { type KeyObject, createPrivateKey, createPublicKey } from "node:crypto";
import { type CertificateInfo, colonHex, parseCertificate } from "./certificate.ts";
import { parseCrl } from "./crl.ts";
import { parseCsr } from "./csr.ts";
import { extKeyUsageName } from "./extensions.ts";
import { describeKey, spkiSha256 } from "./keys.ts";
import { formatSan } from "./names.ts";
import { type PkiObject, describeKind, readPkiFile } from "./pki-object.ts";
import { PkiError } from "./errors.ts";

function days(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / 86_400_000);
}

/** Human lines describing a certificate, as `pier ca inspect` prints them. */
export function describeCertificate(info: CertificateInfo, now = new Date()): string[] {
  const ext = info.extensions;
  const remaining = days(now, info.notAfter);
  const validity = now < info.notBefore ? "NOT YET VALID" : remaining < 0 ? `EXPIRED ${-remaining} days ago` : `${remaining} days left`;
  const lines = [
    `Certificate (X.509 v${info.version})`,
    `  Subject:        ${info.subjectText}`,
    `  Issuer:         ${info.issuerText}${info.selfIssued ? " (self-issued)" : ""}`,
    `  Serial:         ${info.serialNumber}`,
    `  Valid:          ${info.notBefore.toISOString()} → ${info.notAfter.toISOString()} (${validity})`,
    `  Key:            ${info.key.label}`,
    `  Signature:      ${info.signatureAlgorithm.name}${info.signatureAlgorithm.weak ? " (WEAK)" : ""}`,
    `  CA:             ${ext.basicConstraints ? `${ext.basicConstraints.ca ? "yes" : "no"}${ext.basicConstraints.pathLength === undefined ? "" : `, path length ${ext.basicConstraints.pathLength}`}${ext.basicConstraints.critical ? " (critical)" : ""}` : "no basicConstraints"}`,
    `  Key usage:      ${ext.keyUsage?.join(", ") ?? "(none)"}`,
    `  Extended usage: ${ext.extKeyUsage?.map(extKeyUsageName).join(", ") ?? "(none: any purpose)"}`,
    `  SAN:            ${ext.subjectAltNames?.map(formatSan).join(", ") ?? "(none)"}`,
  ];
  if (ext.subjectKeyId) lines.push(`  Subject key ID: ${colonHex(ext.subjectKeyId)}`);
  if (ext.authorityKeyId) lines.push(`  Authority key ID: ${colonHex(ext.authorityKeyId)}`);
  lines.push(`  SHA-256:        ${colonHex(info.fingerprintSha256)}`, `  SPKI SHA-256:   ${info.spkiSha256}`);
  return lines;
}

/**
 * The key in a private-key object: the encoding its PEM label names first, then the others, as
 * `classifyDer` recognised it (a PKCS#8 key labelled "RSA PRIVATE KEY" crashed here before;
 * found by fuzzing).
 */
function readPrivateKeyDer(object: PkiObject): KeyObject {
  const encodings = ["pkcs8", "pkcs1", "sec1"] as const;
  const hinted: (typeof encodings)[number] = object.label === "RSA PRIVATE KEY" ? "pkcs1" : object.label === "EC PRIVATE KEY" ? "sec1" : "pkcs8";
  for (const type of [hinted, ...encodings.filter((t) => t !== hinted)]) {
    try {
      return createPrivateKey({ key: object.der, format: "der", type });
    } catch {
      // try the next encoding
    }
  }
  throw new PkiError("wrong_input_type", `This ${object.label ? `PEM block "${object.label}"` : "data"} is not a private key Pier can read (PKCS#8, PKCS#1 or SEC1).`);
}

function describeObject(object: PkiObject, now: Date): string[] {
  switch (object.kind) {
    case "certificate":
      return describeCertificate(parseCertificate(object.der), now);
    case "csr": {
      const csr = parseCsr(object.der);
      const sans = csr.requestedExtensions.subjectAltNames?.map(formatSan).join(", ");
      return [
        "Certificate signing request (PKCS#10)",
        `  Subject:        ${csr.subjectText}`,
        `  Key:            ${csr.key.label}`,
        `  Signature:      ${csr.signatureAlgorithm} (${csr.signatureValid ? "valid" : "INVALID"})`,
        `  Requested SAN:  ${sans ?? "(none)"}`,
        `  SPKI SHA-256:   ${spkiSha256(csr.publicKey)}`,
      ];
    }
    case "crl": {
      const crl = parseCrl(object.der);
      const stale = crl.nextUpdate && crl.nextUpdate < now ? " (EXPIRED: next update is in the past)" : "";
      return [
        "Certificate revocation list (CRL v2)",
        `  Issuer:         ${crl.issuerText}`,
        `  CRL number:     ${crl.crlNumber ?? "(none)"}`,
        `  This update:    ${crl.thisUpdate.toISOString()}`,
        `  Next update:    ${crl.nextUpdate?.toISOString() ?? "(none)"}${stale}`,
        `  Revoked:        ${crl.revoked.length}`,
        ...crl.revoked.map((r) => `    ${r.serialNumber}  ${r.revokedAt.toISOString()}  ${r.reason}`),
      ];
    }
    case "private-key": {
      const key = readPrivateKeyDer(object);
      return ["Private key", `  Type:           ${describeKey(key).label}`, `  SPKI SHA-256:   ${spkiSha256(key)}`];
    }
    case "encrypted-private-key":
      return ["Encrypted private key (PKCS#8)", "  Its type is visible only after decryption."];
    case "public-key": {
      const key = createPublicKey({ key: object.der, format: "der", type: "spki" });
      return ["Public key", `  Type:           ${describeKey(key).label}`, `  SPKI SHA-256:   ${spkiSha256(key)}`];
    }
    case "unknown":
      return [`${object.label ? `PEM block "${object.label}"` : "Data"} that Pier does not recognise`];
  }
}

/**
 * A human summary of a file holding certificates, CSRs, CRLs or keys, PEM or DER.
 *
 * @example
 * console.log(inspectPkiFile(readFileSync("server.crt")).join("\n"));
 */
export function inspectPkiFile(data: Buffer, now = new Date()): string[] {
  const file = readPkiFile(data);
  if (file.encoding === "empty") return ["The file is empty."];
  if (file.encoding === "garbage") return ["This is neither PEM nor DER: not a certificate, key, CSR or CRL."];
  const lines: string[] = [];
  file.objects.forEach((object, index) => {
    if (file.objects.length > 1) lines.push(`[${index + 1}/${file.objects.length}] ${describeKind(object.kind)}${file.encoding === "der" ? " (DER)" : ""}`);
    else if (file.encoding === "der") lines.push("(DER-encoded)");
    lines.push(...describeObject(object, now));
  });
  return lines;
}
