import { createHash, type X509Certificate } from "node:crypto";
import { spkiSha256 } from "./keys.ts";

/** Content bytes of the OBJECT IDENTIFIERs the fast path knows (X.690 §8.19). */
const oids = {
  ecPublicKey: Buffer.from("2a8648ce3d0201", "hex"),
  rsaEncryption: Buffer.from("2a864886f70d010101", "hex"),
  ed25519: Buffer.from("2b6570", "hex"),
  ed448: Buffer.from("2b6571", "hex"),
};
/** P-256, P-384, P-521: named curves OpenSSL writes back by name. */
const namedCurves = [Buffer.from("2a8648ce3d030107", "hex"), Buffer.from("2b81040022", "hex"), Buffer.from("2b81040023", "hex")];
/** Results per certificate object: a connection's certificate is asked more than once. */
const cache = new WeakMap<X509Certificate, string>();

/**
 * SHA-256 of a certificate's SubjectPublicKeyInfo, lowercase hex: the same value as
 * `spkiSha256(certificate.publicKey)`, hashed from the certificate's own bytes. Exporting the
 * key makes OpenSSL 3 re-encode it, 0.5 ms for a P-256 key on the benchmark box, on every hello
 * of every device; this takes microseconds. Only encodings that export reproduces byte for byte
 * are hashed as they stand (P-256, P-384 and P-521 by name with an uncompressed point, RSA with
 * NULL parameters and a DER RSAPublicKey, Ed25519 and Ed448); any other key is exported as before.
 *
 * @example
 * certificateSpkiSha256(socket.getPeerX509Certificate()) === spkiSha256(certificate.publicKey); // true
 */
export function certificateSpkiSha256(certificate: X509Certificate): string {
  let hash = cache.get(certificate);
  if (hash === undefined) {
    const der = certificate.raw;
    const spki = verbatimSpki(der);
    hash = spki ? createHash("sha256").update(der.subarray(spki.start, spki.end)).digest("hex") : spkiSha256(certificate.publicKey);
    cache.set(certificate, hash);
  }
  return hash;
}

/** A DER element's place in its buffer: tag, where it starts, where its content starts, where it ends. */
interface Element {
  readonly tag: number;
  readonly start: number;
  readonly content: number;
  readonly end: number;
}

/**
 * The element at `offset`, which must end by `limit`; undefined when it is not DER (bounds,
 * definite and minimal lengths). Offsets only: no Buffer is made on the way (a subarray costs
 * about 2 µs, more than the whole walk).
 */
function elementAt(der: Buffer, offset: number, limit: number): Element | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || offset + 2 + count > limit || der[offset + 2] === 0) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
    if (length < 0x80) return undefined;
    header += count;
  }
  const end = offset + header + length;
  return end > limit ? undefined : { tag, start: offset, content: offset + header, end };
}

/** The elements inside a constructed one, or undefined if they do not fill it exactly. */
function childrenAt(der: Buffer, parent: Element): Element[] | undefined {
  const children: Element[] = [];
  for (let offset = parent.content; offset < parent.end; ) {
    const child = elementAt(der, offset, parent.end);
    if (!child) return undefined;
    children.push(child);
    offset = child.end;
  }
  return children;
}

const contentIs = (der: Buffer, element: Element, bytes: Buffer) => element.end - element.content === bytes.length && der.compare(bytes, 0, bytes.length, element.content, element.end) === 0;

/** Where the certificate's SubjectPublicKeyInfo is, when export would write the same bytes; else undefined. */
function verbatimSpki(der: Buffer): Element | undefined {
  const certificate = elementAt(der, 0, der.length);
  const tbs = certificate?.tag === 0x30 ? elementAt(der, certificate.content, certificate.end) : undefined;
  const fields = tbs?.tag === 0x30 ? childrenAt(der, tbs) : undefined;
  if (!fields) return undefined;
  // version [0] (absent in v1), serial, signature, issuer, validity, subject, subjectPublicKeyInfo
  const spki = fields[fields[0]?.tag === 0xa0 ? 6 : 5];
  return spki && exportsAsIs(der, spki) ? spki : undefined;
}

function exportsAsIs(der: Buffer, spki: Element): boolean {
  const [algorithm, key, ...rest] = (spki.tag === 0x30 && childrenAt(der, spki)) || [];
  if (algorithm?.tag !== 0x30 || key?.tag !== 0x03 || rest.length > 0) return false;
  const [oid, parameters, ...more] = childrenAt(der, algorithm) ?? [];
  if (oid?.tag !== 0x06 || more.length > 0 || der[key.content] !== 0) return false; // no unused bits
  if (contentIs(der, oid, oids.ecPublicKey)) {
    return parameters?.tag === 0x06 && namedCurves.some((curve) => contentIs(der, parameters, curve)) && der[key.content + 1] === 0x04;
  }
  if (contentIs(der, oid, oids.rsaEncryption)) {
    return parameters?.tag === 0x05 && parameters.end === parameters.content && isDerRsaPublicKey(der, key.content + 1, key.end);
  }
  return parameters === undefined && (contentIs(der, oid, oids.ed25519) || contentIs(der, oid, oids.ed448));
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, exactly filling the bit string, minimally encoded. */
function isDerRsaPublicKey(der: Buffer, start: number, end: number): boolean {
  const sequence = elementAt(der, start, end);
  if (sequence?.tag !== 0x30 || sequence.end !== end) return false;
  const integers = childrenAt(der, sequence);
  return integers?.length === 2 && integers.every((integer) => isMinimalPositiveInteger(der, integer));
}

function isMinimalPositiveInteger(der: Buffer, integer: Element): boolean {
  if (integer.tag !== 0x02 || integer.end === integer.content) return false;
  const first = der[integer.content]!;
  if (first & 0x80) return false;
  return !(first === 0 && (integer.content + 1 === integer.end || !(der[integer.content + 1]! & 0x80)));
}
