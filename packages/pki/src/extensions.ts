import { createHash, type KeyObject } from "node:crypto";
import { Oid, extKeyUsageNames } from "./asn1/oids.ts";
import { bitString, boolean, explicit, implicitConstructed, implicitPrimitive, integer, octetString, oid, sequence } from "./asn1/der-writer.ts";
import { type DerNode, childrenOf, readBitString, readBoolean, readElement, readOid, readRoot, readSmallInt, sequenceItems } from "./asn1/der-reader.ts";
import { type SubjectAltName, decodeGeneralNames, encodeGeneralNames } from "./names.ts";
import { spkiDer } from "./keys.ts";
import { PkiError } from "./errors.ts";

/** KeyUsage bit names in bit order (RFC 5280 §4.2.1.3). */
export const keyUsageNames = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"] as const;
export type KeyUsage = (typeof keyUsageNames)[number];

/** One encoded extension. */
function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** basicConstraints, always critical as RFC 5280 §4.2.1.9 requires for CAs. */
export function basicConstraintsExtension(ca: boolean, pathLength?: number): Buffer {
  const items = ca ? [boolean(true), ...(pathLength === undefined ? [] : [integer(pathLength)])] : [];
  return extension(Oid.basicConstraints, true, sequence(...items));
}

/** keyUsage (critical), encoded as a minimal DER BIT STRING. */
export function keyUsageExtension(usages: readonly KeyUsage[]): Buffer {
  let bits = 0;
  for (const usage of usages) bits |= 1 << (15 - keyUsageNames.indexOf(usage));
  const bytes = bits & 0xff ? [bits >> 8, bits & 0xff] : [bits >> 8];
  const last = bytes[bytes.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && !(last & (1 << unused))) unused++;
  return extension(Oid.keyUsage, true, bitString(Buffer.from(bytes), unused));
}

/** extendedKeyUsage (non-critical). */
export function extKeyUsageExtension(purposes: readonly string[]): Buffer {
  return extension(Oid.extKeyUsage, false, sequence(...purposes.map((p) => oid(p))));
}

/** subjectAltName; critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function subjectAltNameExtension(sans: readonly SubjectAltName[], subjectEmpty: boolean): Buffer {
  return extension(Oid.subjectAltName, subjectEmpty, encodeGeneralNames(sans));
}

/** Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
export function keyIdentifier(key: KeyObject): Buffer {
  const spki = readElement(spkiDer(key));
  const [, bits] = childrenOf(spki);
  return createHash("sha1").update(readBitString(bits).bytes).digest();
}

export function subjectKeyIdentifierExtension(keyId: Buffer): Buffer {
  return extension(Oid.subjectKeyIdentifier, false, octetString(keyId));
}

export function authorityKeyIdentifierExtension(keyId: Buffer): Buffer {
  return extension(Oid.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyId)));
}

/** Longest CRL distribution point URI Pier writes (IA5String; URLs beyond 2 KiB break clients). */
export const crlDistributionPointMaxLength = 2048;

/**
 * cRLDistributionPoints (non-critical, RFC 5280 §4.2.1.13): one DistributionPoint per URI,
 * each `distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } }`.
 *
 * @example
 * crlDistributionPointsExtension(["https://pier.example.com:9443/api/pki/crl"]);
 */
export function crlDistributionPointsExtension(uris: readonly string[]): Buffer {
  for (const uri of uris) {
    // IA5String: 7-bit ASCII only; RFC 5280 §4.2.1.13 wants an absolute URI.
    if (!/^[a-z][a-z0-9+.-]*:\/\/[\x21-\x7e]+$/i.test(uri) || uri.length > crlDistributionPointMaxLength) {
      throw new PkiError("invalid_argument", `"${uri.slice(0, 80)}" is not a usable CRL distribution point: give an absolute http(s) URL of printable ASCII, at most ${crlDistributionPointMaxLength} characters.`);
    }
  }
  const point = (uri: string) => sequence(implicitConstructed(0, implicitConstructed(0, implicitPrimitive(6, Buffer.from(uri, "latin1")))));
  return extension(Oid.crlDistributionPoints, false, sequence(...uris.map(point)));
}

/**
 * The fullName URIs of a cRLDistributionPoints value. Anything else in it, even damaged, is
 * skipped and never refused: OpenSSL decodes the extension only when asked, so a certificate
 * Node and openssl load must still load here.
 */
function decodeCrlDistributionPoints(value: DerNode): string[] {
  const uris: string[] = [];
  try {
    collectCrlDistributionPoints(value, uris);
  } catch {
    // Damaged inside: keep what was read.
  }
  return uris;
}

function collectCrlDistributionPoints(value: DerNode, uris: string[]): void {
  for (const point of childrenOf(value)) {
    if (point.tag !== 0x30) continue;
    const name = childrenOf(point).find((n) => n.tagClass === "context" && n.tagNumber === 0 && n.constructed);
    const fullName = name ? childrenOf(name).find((n) => n.tagClass === "context" && n.tagNumber === 0 && n.constructed) : undefined;
    for (const general of fullName ? childrenOf(fullName) : []) {
      if (general.tagClass === "context" && general.tagNumber === 6 && !general.constructed) uris.push(general.content.toString("latin1"));
    }
  }
}

/** Extensions of a certificate or CSR, decoded into the facts Pier checks. */
export interface DecodedExtensions {
  basicConstraints?: { ca: boolean; pathLength?: number; critical: boolean };
  keyUsage?: KeyUsage[];
  extKeyUsage?: string[];
  subjectAltNames?: SubjectAltName[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  /** fullName URIs of cRLDistributionPoints (RFC 5280 §4.2.1.13). */
  crlDistributionPoints?: string[];
  /** OIDs of critical extensions Pier does not understand (a verifier must reject these). */
  unknownCritical: string[];
  /** Every extension OID present, in order. */
  present: string[];
}

/** Decodes an `Extensions` SEQUENCE. */
export function decodeExtensions(node: DerNode): DecodedExtensions {
  const out: DecodedExtensions = { unknownCritical: [], present: [] };
  for (const ext of sequenceItems(node, "extensions")) {
    const items = sequenceItems(ext, "extension");
    // RFC 5280 §4.1: an OID, an optional BOOLEAN and the value, nothing else.
    if (items.length < 2 || items.length > 3) throw new PkiError("malformed_der", "Malformed DER: an extension must be an OID, an optional BOOLEAN and an OCTET STRING.");
    const id = readOid(items[0]);
    const critical = items.length === 3 ? readBoolean(items[1]) : false;
    const valueNode = items[items.length - 1];
    if (!valueNode || valueNode.tag !== 0x04) continue;
    // RFC 5280 §4.2: at most one instance of an extension (OpenSSL marks such a certificate invalid).
    if (out.present.includes(id)) throw new PkiError("malformed_der", `Malformed DER: the extension ${id} appears twice.`);
    // The OCTET STRING holds exactly one DER value: trailing bytes are refused, as everywhere.
    const value = readRoot(valueNode.content);
    out.present.push(id);
    switch (id) {
      case Oid.basicConstraints: {
        const [caNode, lenNode] = sequenceItems(value, "basicConstraints");
        const ca = caNode?.tag === 0x01 ? readBoolean(caNode) : false;
        const lengthNode = caNode?.tag === 0x02 ? caNode : lenNode;
        out.basicConstraints = { ca, critical, ...(lengthNode ? { pathLength: readSmallInt(lengthNode) } : {}) };
        break;
      }
      case Oid.keyUsage: {
        const { bytes } = readBitString(value);
        out.keyUsage = keyUsageNames.filter((_, i) => ((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1);
        break;
      }
      case Oid.extKeyUsage:
        out.extKeyUsage = sequenceItems(value, "extKeyUsage").map((n) => readOid(n));
        break;
      case Oid.subjectAltName:
        out.subjectAltNames = decodeGeneralNames(value);
        break;
      case Oid.subjectKeyIdentifier:
        out.subjectKeyId = value.content.toString("hex");
        break;
      case Oid.authorityKeyIdentifier: {
        const keyId = sequenceItems(value, "authorityKeyIdentifier").find((n) => n.tagClass === "context" && n.tagNumber === 0);
        if (keyId) out.authorityKeyId = keyId.content.toString("hex");
        break;
      }
      case Oid.crlDistributionPoints:
        if (value.tag === 0x30) out.crlDistributionPoints = decodeCrlDistributionPoints(value);
        break;
      default:
        if (critical && id !== Oid.nameConstraints) out.unknownCritical.push(id);
    }
  }
  return out;
}

/** Display name of an EKU OID. */
export function extKeyUsageName(id: string): string {
  return extKeyUsageNames[id] ?? id;
}

/** `[3] EXPLICIT Extensions` as the last field of a TBSCertificate. */
export function certificateExtensionsField(extensions: readonly Buffer[]): Buffer {
  return explicit(3, sequence(...extensions));
}
