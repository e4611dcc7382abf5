import { X509Certificate, createHash, randomBytes, sign, type KeyObject } from "node:crypto";
import { bitString, explicit, integer, sequence, time } from "./asn1/der-writer.ts";
import { type DerNode, childrenOf, readIntegerHex, readOid, readRoot, readSmallInt, readTime, sequenceItems } from "./asn1/der-reader.ts";
import { signatureAlgorithms } from "./asn1/oids.ts";
import { type DecodedExtensions, certificateExtensionsField, decodeExtensions } from "./extensions.ts";
import { type KeyDescription, describeKey, signatureSchemeFor, spkiDer, spkiSha256 } from "./keys.ts";
import { type NameAttribute, decodeName, formatName } from "./names.ts";
import { toPem } from "./pem.ts";
import { PkiError } from "./errors.ts";

/** Everything that goes into a certificate; `issuer` is the issuer's encoded subject, byte for byte. */
export interface CertificateSpec {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Buffer[];
  readonly serial?: Buffer;
}

/** 128 random bits (RFC 5280 §4.1.2.2 allows up to 20 octets; CA/B asks for ≥ 64 random bits). */
export function randomSerial(): Buffer {
  return randomBytes(16);
}

/**
 * Builds and signs an X.509 v3 certificate, returning DER.
 *
 * @example
 * const der = signCertificate({ subject, issuer: subject, publicKey, signingKey: privateKey, notBefore, notAfter, extensions });
 */
export function signCertificate(spec: CertificateSpec): Buffer {
  const scheme = signatureSchemeFor(spec.signingKey);
  const tbs = sequence(
    explicit(0, integer(2)),
    integer(spec.serial ?? randomSerial()),
    scheme.algorithmIdentifier,
    spec.issuer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spkiDer(spec.publicKey),
    certificateExtensionsField(spec.extensions),
  );
  const signature = sign(scheme.hash, tbs, spec.signingKey);
  return sequence(tbs, scheme.algorithmIdentifier, bitString(signature));
}

/** PEM of a DER certificate. */
export function certificateToPem(der: Buffer): string {
  return toPem("CERTIFICATE", der);
}

/** A parsed certificate with the facts Pier checks and shows. */
export interface CertificateInfo {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly version: number;
  /** Serial number, lowercase hex without leading zero bytes. */
  readonly serialNumber: string;
  readonly subject: NameAttribute[];
  readonly subjectText: string;
  readonly subjectDer: Buffer;
  readonly issuer: NameAttribute[];
  readonly issuerText: string;
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signatureAlgorithm: { readonly oid: string; readonly name: string; readonly weak: boolean };
  readonly publicKey: KeyObject;
  readonly key: KeyDescription;
  readonly extensions: DecodedExtensions;
  /** basicConstraints CA:TRUE. */
  readonly isCa: boolean;
  /** Subject and issuer are the same name (a root, or a self-signed leaf). */
  readonly selfIssued: boolean;
  /** SHA-256 of the whole certificate, lowercase hex. */
  readonly fingerprintSha256: string;
  /** SHA-256 of the SubjectPublicKeyInfo, lowercase hex (the `EDGE_KEY` pin). */
  readonly spkiSha256: string;
}

function tbsFields(tbs: DerNode): DerNode[] {
  const items = sequenceItems(tbs, "TBSCertificate");
  return items[0]?.tagClass === "context" && items[0].tagNumber === 0 ? items : [undefined as unknown as DerNode, ...items];
}

/**
 * Parses a DER certificate. Throws `wrong_input_type` when the DER is some other structure.
 *
 * @example
 * const info = parseCertificate(parsePem(pem)[0].der);
 */
export function parseCertificate(der: Buffer): CertificateInfo {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (error) {
    throw new PkiError("wrong_input_type", "This is not an X.509 certificate.", { cause: error });
  }
  let publicKey: KeyObject;
  try {
    // X509Certificate decodes the key lazily: a damaged SubjectPublicKeyInfo only fails here.
    publicKey = x509.publicKey;
  } catch (error) {
    throw new PkiError("wrong_input_type", "The certificate's public key cannot be read (damaged, or a key type Pier does not know).", { cause: error });
  }
  const [tbs] = sequenceItems(readRoot(der), "certificate");
  const [versionNode, serialNode, , issuerNode, validityNode, subjectNode, , ...optional] = tbsFields(tbs!);
  const [notBeforeNode, notAfterNode] = sequenceItems(validityNode, "validity");
  const certItems = sequenceItems(readRoot(der), "certificate");
  const sigOid = readOid(sequenceItems(certItems[1], "signatureAlgorithm")[0]);
  const extensionsNode = optional.find((n) => n.tagClass === "context" && n.tagNumber === 3);
  const extensionsSequence = extensionsNode ? childrenOf(extensionsNode)[0] : undefined;
  const extensions = extensionsSequence ? decodeExtensions(extensionsSequence) : { unknownCritical: [], present: [] };
  const subject = decodeName(subjectNode!);
  const issuer = decodeName(issuerNode!);
  const algorithm = signatureAlgorithms[sigOid];
  return {
    der,
    x509,
    version: versionNode ? readSmallInt(childrenOf(versionNode)[0]) + 1 : 1,
    serialNumber: readIntegerHex(serialNode),
    subject,
    subjectText: formatName(subject),
    subjectDer: subjectNode!.raw,
    issuer,
    issuerText: formatName(issuer),
    issuerDer: issuerNode!.raw,
    notBefore: readTime(notBeforeNode),
    notAfter: readTime(notAfterNode),
    signatureAlgorithm: { oid: sigOid, name: algorithm?.name ?? sigOid, weak: algorithm?.weak ?? false },
    publicKey,
    key: describeKey(publicKey),
    extensions,
    isCa: extensions.basicConstraints?.ca ?? false,
    selfIssued: subjectNode!.raw.equals(issuerNode!.raw),
    fingerprintSha256: createHash("sha256").update(der).digest("hex"),
    spkiSha256: spkiSha256(publicKey),
  };
}

/** True when `issuer` signed `subject` (names chain and the signature verifies). */
export function isIssuedBy(subject: CertificateInfo, issuer: CertificateInfo): boolean {
  const namesMatch = subject.issuerDer.equals(issuer.subjectDer) || subject.issuerText === issuer.subjectText;
  return namesMatch && subject.x509.verify(issuer.publicKey);
}

/** Formats a hex string as colon-separated uppercase pairs, as openssl prints fingerprints. */
export function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/.{2}/g) ?? []).join(":");
}
