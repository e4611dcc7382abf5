import { PkiError } from "../errors.ts";

/** One decoded DER element. `raw` is the whole encoding, `content` its value bytes. */
export interface DerNode {
  readonly tag: number;
  readonly constructed: boolean;
  readonly tagClass: "universal" | "application" | "context" | "private";
  /** Tag number within its class (low five bits; high-tag-number form is rejected). */
  readonly tagNumber: number;
  readonly raw: Buffer;
  readonly content: Buffer;
}

const classes = ["universal", "application", "context", "private"] as const;

function malformed(what: string): PkiError {
  return new PkiError("malformed_der", `Malformed DER: ${what}. The data is not a valid DER structure (truncated or corrupted?).`);
}

/** Decodes the element starting at `offset`; bounds-checked, definite lengths only. */
export function readElement(buf: Buffer, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw malformed("element header runs past the end");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed("high tag numbers are not used in X.509");
  let length = buf[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw malformed("indefinite length is not allowed in DER");
    if (count > 4) throw malformed("length field too large");
    if (offset + 2 + count > buf.length) throw malformed("length runs past the end");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    // X.690 §10.1: DER lengths use the fewest octets (short form below 128, no leading zero).
    if (length < 0x80 || buf[offset + 2] === 0) throw malformed("length is not minimally encoded");
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw malformed(`element of ${length} bytes runs past the end of the data`);
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    tagClass: classes[tag >> 6]!,
    tagNumber: tag & 0x1f,
    raw: buf.subarray(offset, end),
    content: buf.subarray(offset + header, end),
  };
}

/** Decodes a buffer that must hold exactly one element. */
export function readRoot(buf: Buffer): DerNode {
  const node = readElement(buf, 0);
  if (node.raw.length !== buf.length) throw malformed(`${buf.length - node.raw.length} trailing bytes after the structure`);
  return node;
}

/** The child elements of a constructed element. */
export function childrenOf(node: DerNode): DerNode[] {
  if (!node.constructed) throw malformed("expected a constructed element");
  const out: DerNode[] = [];
  for (let offset = 0; offset < node.content.length; ) {
    const child = readElement(node.content, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** Children of a SEQUENCE, checking the tag. */
export function sequenceItems(node: DerNode | undefined, what: string): DerNode[] {
  if (!node || node.tag !== 0x30) throw malformed(`${what} is not a SEQUENCE`);
  return childrenOf(node);
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw malformed(`${what} has an unexpected type`);
  return node;
}

/** OBJECT IDENTIFIER in dotted form. */
export function readOid(node: DerNode | undefined): string {
  const n = expectTag(node, 0x06, "object identifier");
  // X.690 §8.19.2: at least one subidentifier, none starting with 0x80, the last one complete.
  const last = n.content[n.content.length - 1];
  if (last === undefined || last & 0x80 || n.content.some((byte, i) => byte === 0x80 && (i === 0 || !(n.content[i - 1]! & 0x80)))) {
    throw malformed("object identifier is not minimally encoded");
  }
  const arcs: number[] = [];
  let value = 0;
  for (const byte of n.content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join(".");
}

/** X.690 §8.3.2: at least one byte, and no redundant leading 0x00 or 0xff byte. */
function checkMinimalInteger(content: Buffer): void {
  const [first, second = 0] = content;
  if (first === undefined || (content.length > 1 && ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80)))) throw malformed("integer is not minimally encoded");
}

/** INTEGER as unsigned lowercase hex without leading zero bytes (serial numbers). */
export function readIntegerHex(node: DerNode | undefined): string {
  const n = expectTag(node, 0x02, "integer");
  checkMinimalInteger(n.content);
  let start = 0;
  while (start < n.content.length - 1 && n.content[start] === 0) start++;
  return n.content.subarray(start).toString("hex");
}

/** Small non-negative INTEGER or ENUMERATED (versions, path lengths, reasons, CRL numbers) as a number. */
export function readSmallInt(node: DerNode | undefined): number {
  if (!node || (node.tag !== 0x02 && node.tag !== 0x0a)) throw malformed("expected an integer");
  checkMinimalInteger(node.content);
  if (node.content[0]! & 0x80) throw malformed("expected a non-negative integer");
  let value = 0;
  for (const byte of node.content) value = value * 256 + byte;
  return value;
}

export function readBoolean(node: DerNode | undefined): boolean {
  return expectTag(node, 0x01, "boolean").content[0] !== 0;
}

/** BIT STRING contents with the unused-bits count. */
export function readBitString(node: DerNode | undefined): { bytes: Buffer; unusedBits: number } {
  const n = expectTag(node, 0x03, "bit string");
  if (n.content.length === 0) throw malformed("empty bit string");
  const unusedBits = n.content[0]!;
  // X.690 §8.6.2.2: 0–7 unused bits, and none when there are no bits at all.
  if (unusedBits > 7 || (unusedBits > 0 && n.content.length === 1)) throw malformed(`bit string with ${unusedBits} unused bits`);
  return { unusedBits, bytes: n.content.subarray(1) };
}

/**
 * The algorithm OID of an AlgorithmIdentifier; NULL parameters must be empty (RFC 5280 §4.1.1.2),
 * BOOLEAN parameters one octet (X.690 §8.2) and a SEQUENCE or SET constructed (OpenSSL refuses
 * the others too).
 */
export function readAlgorithmIdentifier(node: DerNode | undefined, what: string): string {
  const [algorithm, parameters, ...extra] = sequenceItems(node, what);
  const badNull = parameters?.tag === 0x05 && parameters.content.length > 0;
  const badBoolean = parameters?.tag === 0x01 && parameters.content.length !== 1;
  // X.690 §8.9/§8.11: a SEQUENCE or SET is constructed (OpenSSL: "type not constructed").
  const primitiveSequenceOrSet = parameters?.tag === 0x10 || parameters?.tag === 0x11;
  if (extra.length > 0 || badNull || badBoolean || primitiveSequenceOrSet) throw malformed(`${what} has malformed parameters`);
  // Parameters are ANY: OpenSSL decodes each element by its type (an empty BIT STRING, a padded INTEGER…).
  if (parameters) checkPrimitives(parameters);
  return readOid(algorithm);
}

/** UTCTime or GeneralizedTime. */
export function readTime(node: DerNode | undefined): Date {
  if (!node || (node.tag !== 0x17 && node.tag !== 0x18)) throw malformed("expected a time");
  const text = node.content.toString("latin1");
  const match = node.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw malformed(`time "${text}" is not in DER form`);
  const [, y = "", mo = "", d = "", h = "", mi = "", s = ""] = match;
  let year = Number(y);
  if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
  // setUTC* (not Date.UTC, which maps years 0–99 to 19xx) roll month 13 or 25:61 over into a
  // real instant: a field out of range is refused instead.
  const date = new Date(0);
  date.setUTCFullYear(year, Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), 0);
  const fields = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  if (date.getUTCFullYear() !== year || fields.some((value, i) => value !== Number([mo, d, h, mi, s][i]))) throw malformed(`time "${text}" is not a real date and time`);
  return date;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Any of the string types X.509 names use. */
export function readString(node: DerNode): string {
  switch (node.tag) {
    case 0x0c:
      try {
        return utf8.decode(node.content);
      } catch {
        throw malformed("a UTF8String is not valid UTF-8");
      }
    case 0x1e: {
      // BMPString: UTF-16BE, two bytes per character.
      if (node.content.length % 2 !== 0) throw malformed("a BMPString has an odd number of bytes");
      const swapped = Buffer.from(node.content);
      swapped.swap16();
      return swapped.toString("utf16le");
    }
    case 0x1c:
      // UniversalString: UCS-4, four bytes per character (shown as latin1, display only).
      if (node.content.length % 4 !== 0) throw malformed("a UniversalString is not a whole number of characters");
      // Each character a Unicode scalar value, as OpenSSL requires (Node's 3.5 and openssl 3.0 alike).
      for (let i = 0; i < node.content.length; i += 4) {
        const point = node.content.readUInt32BE(i);
        if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) throw malformed("a UniversalString holds a value that is not a character");
      }
      return node.content.toString("latin1");
    default:
      return node.content.toString("latin1");
  }
}

/**
 * Reads every element inside an ANY value (a name's value, a CSR attribute) with its type's DER
 * rules, as OpenSSL does when it decodes one: headers, INTEGERs, BIT STRINGs, OIDs, strings.
 */
export function checkPrimitives(node: DerNode): void {
  if (node.constructed) return childrenOf(node).forEach(checkPrimitives);
  if (node.tag === 0x02) readIntegerHex(node);
  else if (node.tag === 0x03) readBitString(node);
  else if (node.tag === 0x06) readOid(node);
  else if (node.tag === 0x0c || node.tag === 0x1e || node.tag === 0x1c) readString(node);
}
