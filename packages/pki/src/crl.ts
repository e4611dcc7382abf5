import { sign, verify, type KeyObject } from "node:crypto";
import { bitString, enumerated, explicit, integer, octetString, oid, sequence, time } from "./asn1/der-writer.ts";
import { type DerNode, childrenOf, expectTag, readAlgorithmIdentifier, readBitString, readIntegerHex, readOid, readRoot, readSmallInt, readTime, sequenceItems } from "./asn1/der-reader.ts";
import { Oid, signatureAlgorithms } from "./asn1/oids.ts";
import { authorityKeyIdentifierExtension } from "./extensions.ts";
import { signatureSchemeFor } from "./keys.ts";
import { type NameAttribute, decodeName, formatName } from "./names.ts";
import { toPem } from "./pem.ts";
import { PkiError } from "./errors.ts";

/** CRL reason codes (RFC 5280 §5.3.1); value 7 is unused by the standard. */
export const revocationReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof revocationReasons;

/** Accepts `keyCompromise`, `key-compromise` or `keycompromise`. */
export function parseRevocationReason(text: string): RevocationReason {
  const wanted = text.replace(/[-_\s]/g, "").toLowerCase();
  const match = (Object.keys(revocationReasons) as RevocationReason[]).find((r) => r.toLowerCase() === wanted);
  if (!match) throw new PkiError("invalid_argument", `Unknown revocation reason "${text}"; use one of ${Object.keys(revocationReasons).join(", ")}.`);
  return match;
}

function reasonName(code: number): RevocationReason {
  return (Object.entries(revocationReasons).find(([, v]) => v === code)?.[0] ?? "unspecified") as RevocationReason;
}

/** One revoked certificate. */
export interface RevokedEntry {
  readonly serialNumber: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** Inputs of a CRL. */
export interface CrlSpec {
  /** Encoded subject of the CA, byte for byte. */
  readonly issuer: Buffer;
  readonly issuerKeyId: Buffer;
  readonly signingKey: KeyObject;
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: readonly RevokedEntry[];
}

/**
 * Builds and signs a v2 CRL with the CRL number and authority key identifier extensions.
 *
 * @example
 * const pem = crlToPem(signCrl({ issuer, issuerKeyId, signingKey, crlNumber: 1, thisUpdate, nextUpdate, revoked: [] }));
 */
export function signCrl(spec: CrlSpec): Buffer {
  const scheme = signatureSchemeFor(spec.signingKey);
  const entries = spec.revoked.map((entry) => {
    // RFC 5280 §5.3.1: omit the reason code rather than writing "unspecified".
    const extensions = entry.reason === "unspecified" ? [] : [sequence(sequence(oid(Oid.crlReason), octetString(enumerated(revocationReasons[entry.reason]))))];
    return sequence(integer(Buffer.from(entry.serialNumber, "hex")), time(entry.revokedAt), ...extensions);
  });
  const crlExtensions = explicit(0, sequence(authorityKeyIdentifierExtension(spec.issuerKeyId), sequence(oid(Oid.crlNumber), octetString(integer(spec.crlNumber)))));
  const tbs = sequence(
    integer(1),
    scheme.algorithmIdentifier,
    spec.issuer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
    ...(entries.length > 0 ? [sequence(...entries)] : []),
    crlExtensions,
  );
  return sequence(tbs, scheme.algorithmIdentifier, bitString(sign(scheme.hash, tbs, spec.signingKey)));
}


/** PEM of a DER CRL (label `X509 CRL`, as openssl writes it). */
export function crlToPem(der: Buffer): string {
  return toPem("X509 CRL", der);
}

/** A parsed CRL. */
export interface CrlInfo {
  readonly issuer: NameAttribute[];
  readonly issuerText: string;
  readonly issuerDer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly crlNumber?: number;
  readonly revoked: RevokedEntry[];
  readonly signatureAlgorithm: string;
  /** Checks the CRL's signature against a CA's public key. */
  verifySignature(publicKey: KeyObject): boolean;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue } (RFC 5280 §4.1). */
function checkExtensionShape(items: DerNode[]): DerNode[] {
  if (items.length < 2 || items.length > 3 || (items.length === 3 && items[1]!.tag !== 0x01)) throw new PkiError("malformed_der", "Malformed DER: an extension must be an OID, an optional BOOLEAN and an OCTET STRING.");
  return items;
}

function readEntry(node: DerNode): RevokedEntry {
  const entryItems = sequenceItems(node, "revoked certificate");
  const [serialNode, dateNode, extensionsNode] = entryItems;
  if (entryItems.length > 3) throw new PkiError("malformed_der", "Malformed DER: a revoked certificate entry has extra fields.");
  let reason: RevocationReason = "unspecified";
  for (const ext of extensionsNode ? sequenceItems(extensionsNode, "entry extensions") : []) {
    const items = checkExtensionShape(sequenceItems(ext, "entry extension"));
    const valueNode = expectTag(items[items.length - 1], 0x04, "entry extension value");
    if (readOid(items[0]) === Oid.crlReason) reason = reasonName(readSmallInt(readRoot(valueNode.content)));
  }
  return { serialNumber: readIntegerHex(serialNode), revokedAt: readTime(dateNode), reason };
}

/** Parses a DER CRL. Throws `wrong_input_type` when it is some other structure. */
export function parseCrl(der: Buffer): CrlInfo {
  const crlItems = sequenceItems(readRoot(der), "CRL");
  const [tbs, algNode, sigNode] = crlItems;
  // RFC 5280 §5.1: CertificateList is exactly tbsCertList, signatureAlgorithm, signatureValue.
  if (crlItems.length > 3) throw new PkiError("malformed_der", "Malformed DER: the CRL has a field after its signature.");
  const fields = sequenceItems(tbs, "TBSCertList");
  const items = fields[0]?.tag === 0x02 ? fields.slice(1) : fields;
  if (fields[0]?.tag === 0x02) readSmallInt(fields[0]);
  const [innerAlgNode, issuerNode, thisUpdateNode, ...rest] = items;
  if (!issuerNode || issuerNode.tag !== 0x30 || !thisUpdateNode || (thisUpdateNode.tag !== 0x17 && thisUpdateNode.tag !== 0x18)) {
    throw new PkiError("wrong_input_type", "This is not a certificate revocation list (CRL).");
  }
  readAlgorithmIdentifier(innerAlgNode, "TBSCertList signature");
  const nextUpdateNode = rest[0] && (rest[0].tag === 0x17 || rest[0].tag === 0x18) ? rest.shift() : undefined;
  const revokedNode = rest[0]?.tag === 0x30 ? rest.shift() : undefined;
  // RFC 5280 §5.1: the only field after the revoked list is [0] crlExtensions.
  if (rest.length > 1 || (rest[0] && rest[0].tag !== 0xa0)) throw new PkiError("malformed_der", "Malformed DER: the CRL has unexpected fields after its revoked certificates.");
  const extensionsNode = rest[0];
  let crlNumber: number | undefined;
  const seen = new Set<string>();
  const extensionsFields = extensionsNode ? childrenOf(extensionsNode) : [];
  if (extensionsFields.length > 1) throw new PkiError("malformed_der", "Malformed DER: the CRL's [0] extensions field holds more than one element.");
  for (const ext of extensionsNode ? sequenceItems(extensionsFields[0], "CRL extensions") : []) {
    const parts = checkExtensionShape(sequenceItems(ext, "CRL extension"));
    const id = readOid(parts[0]);
    // RFC 5280 §5.2: at most one instance of an extension (OpenSSL then shows no CRL number).
    if (seen.has(id)) throw new PkiError("malformed_der", `Malformed DER: the CRL extension ${id} appears twice.`);
    seen.add(id);
    const valueNode = expectTag(parts[parts.length - 1], 0x04, "CRL extension value");
    // RFC 5280 §5.2.3: CRLNumber ::= INTEGER (readSmallInt also takes ENUMERATED, for reasons).
    if (id === Oid.crlNumber) crlNumber = readSmallInt(expectTag(readRoot(valueNode.content), 0x02, "CRL number"));
  }
  const sigOid = readAlgorithmIdentifier(algNode, "signature algorithm");
  const algorithm = signatureAlgorithms[sigOid];
  const signature = readBitString(sigNode).bytes;
  const issuer = decodeName(issuerNode);
  return {
    issuer,
    issuerText: formatName(issuer),
    issuerDer: issuerNode.raw,
    thisUpdate: readTime(thisUpdateNode),
    ...(nextUpdateNode ? { nextUpdate: readTime(nextUpdateNode) } : {}),
    ...(crlNumber === undefined ? {} : { crlNumber }),
    revoked: revokedNode ? childrenOf(revokedNode).map(readEntry) : [],
    signatureAlgorithm: algorithm?.name ?? sigOid,
    verifySignature: (publicKey) => {
      if (!algorithm) return false;
      try {
        return verify(algorithm.hash, tbs!.raw, publicKey, signature);
      } catch {
        return false;
      }
    },
  };
}
