import { isIP } from "node:net";
import { Oid, attributeShortNames } from "./asn1/oids.ts";
import { implicitPrimitive, oid, sequence, setOf, utf8String } from "./asn1/der-writer.ts";
import { type DerNode, checkPrimitives, childrenOf, expectTag, readElement, readOid, readString, sequenceItems } from "./asn1/der-reader.ts";
import { PkiError } from "./errors.ts";

/** One attribute of a distinguished name, e.g. `{ type: "CN", value: "device-17" }`. */
export interface NameAttribute {
  readonly type: string;
  readonly oid: string;
  readonly value: string;
}

/** What Pier puts in a subject: a common name and optional organisation fields. */
export interface SubjectInput {
  readonly commonName?: string;
  readonly organization?: string;
  readonly organizationalUnit?: string;
}

/**
 * Encodes a subject as an X.501 Name (one attribute per RDN).
 *
 * @example
 * encodeName({ commonName: "pier.example.com" });
 */
export function encodeName(input: SubjectInput): Buffer {
  const rdns: Buffer[] = [];
  const add = (type: string, value: string | undefined, max: number) => {
    if (value === undefined) return;
    if (value.length === 0 || value.length > max) throw new PkiError("invalid_name", `Name attribute ${attributeShortNames[type]} must be 1–${max} characters, got ${value.length}.`);
    if (/\p{Cc}/u.test(value)) throw new PkiError("invalid_name", `Name attribute ${attributeShortNames[type]} contains control characters.`);
    rdns.push(setOf(sequence(oid(type), utf8String(value))));
  };
  add(Oid.organization, input.organization, 64);
  add(Oid.organizationalUnit, input.organizationalUnit, 64);
  add(Oid.commonName, input.commonName, 64);
  return sequence(...rdns);
}

// The value types OpenSSL accepts in a name (B_ASN1_PRINTABLE through ASN1_tag2bit): Numeric,
// Printable, Teletex, IA5, Universal, BMP and UTF8 strings, BIT STRING, SEQUENCE and the
// universal tags it maps to "unknown"; INTEGER, ENUMERATED (both OpenSSL 3.0 and Node's 3.5
// refuse it, whatever its contents), OCTET STRING, times, Videotex/Graphic/Visible/General
// strings and tagged values are refused.
const nameValueTags = new Set([0x03, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x12, 0x13, 0x14, 0x16, 0x1c, 0x1d, 0x1e, 0x30]);

/**
 * Decodes an X.501 Name into its attributes in encoding order. Each RDN must be a SET of
 * (type, value) pairs with values of the types OpenSSL accepts; values are read as text
 * (display only: names are compared byte for byte).
 */
export function decodeName(node: DerNode): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const rdn of sequenceItems(node, "name")) {
    for (const atv of childrenOf(expectTag(rdn, 0x31, "relative distinguished name"))) {
      const items = sequenceItems(atv, "name attribute");
      const [typeNode, valueNode] = items;
      if (items.length !== 2 || !valueNode) throw new PkiError("malformed_der", "Malformed DER: a name attribute must be exactly one type and one value.");
      if (!nameValueTags.has(valueNode.tag)) throw new PkiError("malformed_der", `Malformed DER: a name attribute value cannot have tag 0x${valueNode.tag.toString(16)}.`);
      // A primitive value is checked as DER (BIT STRING unused bits…); a SEQUENCE value is kept
      // as it is, as Node's OpenSSL does (checking inside refused certificates Node reads).
      if (!valueNode.constructed) checkPrimitives(valueNode);
      const type = readOid(typeNode);
      out.push({ oid: type, type: attributeShortNames[type] ?? type, value: readString(valueNode) });
    }
  }
  return out;
}

/** Formats a name the way operators read it: `CN=device-17, O=Acme`. */
export function formatName(attributes: readonly NameAttribute[]): string {
  if (attributes.length === 0) return "(empty)";
  return attributes.map((a) => `${a.type}=${a.value}`).join(", ");
}

/** Formats a DER-encoded Name (as found in a TLS CertificateRequest). */
export function formatNameDer(der: Buffer): string {
  return formatName(decodeName(readElement(der)));
}

/** The common name of a name, if it has one. */
export function commonNameOf(attributes: readonly NameAttribute[]): string | undefined {
  return attributes.findLast((a) => a.oid === Oid.commonName)?.value;
}

/** A subjectAltName entry. */
export type SubjectAltName =
  | { readonly type: "dns"; readonly value: string }
  | { readonly type: "ip"; readonly value: string }
  | { readonly type: "uri"; readonly value: string }
  | { readonly type: "email"; readonly value: string };

/** Prints a SAN the way `--san` takes it: `DNS:pier.example.com`. */
export function formatSan(san: SubjectAltName): string {
  const prefix = { dns: "DNS", ip: "IP", uri: "URI", email: "email" }[san.type];
  return `${prefix}:${san.value}`;
}

const dnsLabel = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

function checkDnsName(name: string): string {
  const labels = name.split(".");
  const ok = name.length <= 253 && labels.every((label, i) => (i === 0 && label === "*" && labels.length > 2) || dnsLabel.test(label));
  if (!ok) throw new PkiError("invalid_san", `"${name}" is not a valid DNS name (letters, digits and hyphens per label; a wildcard only as the whole leftmost label).`);
  return name.toLowerCase();
}

/**
 * Parses `--san` syntax: comma-separated `DNS:name`, `IP:address`, `URI:uri`, `email:address`.
 * A bare value is taken as an IP when it is one, else as a DNS name.
 *
 * @example
 * parseSanList("DNS:pier.example.com,IP:10.0.0.5");
 */
export function parseSanList(text: string): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  for (const raw of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const colon = raw.indexOf(":");
    const prefix = colon > 0 ? raw.slice(0, colon).toLowerCase() : "";
    const value = colon > 0 ? raw.slice(colon + 1) : raw;
    switch (prefix) {
      case "dns":
        out.push({ type: "dns", value: checkDnsName(value) });
        break;
      case "ip":
        if (!isIP(value)) throw new PkiError("invalid_san", `"${value}" is not an IPv4 or IPv6 address (from "${raw}").`);
        out.push({ type: "ip", value });
        break;
      case "uri":
        if (!URL.canParse(value)) throw new PkiError("invalid_san", `"${value}" is not a valid URI (from "${raw}").`);
        out.push({ type: "uri", value });
        break;
      case "email":
        if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw new PkiError("invalid_san", `"${value}" is not an email address.`);
        out.push({ type: "email", value });
        break;
      default:
        if (isIP(raw)) out.push({ type: "ip", value: raw });
        else if (colon < 0) out.push({ type: "dns", value: checkDnsName(raw) });
        else throw new PkiError("invalid_san", `Unknown SAN type in "${raw}"; use DNS:, IP:, URI: or email:.`);
    }
  }
  return out;
}

function ipToBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4?.[1]) {
    tail = v4[1].split(".").map(Number);
    text = text.slice(0, -v4[1].length) + "0:0";
  }
  const [head = "", rest] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

function bytesToIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length !== 16) return `(invalid ${bytes.length}-byte address)`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // RFC 5952 §4.2: compress the longest run (of two or more) of zero groups.
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`;
}

/** Encodes SANs as GeneralNames (RFC 5280 §4.2.1.6). */
export function encodeGeneralNames(sans: readonly SubjectAltName[]): Buffer {
  return sequence(
    ...sans.map((san) => {
      switch (san.type) {
        case "email":
          return implicitPrimitive(1, Buffer.from(san.value, "latin1"));
        case "dns":
          return implicitPrimitive(2, Buffer.from(san.value, "latin1"));
        case "uri":
          return implicitPrimitive(6, Buffer.from(san.value, "latin1"));
        case "ip":
          return implicitPrimitive(7, ipToBytes(san.value));
      }
    }),
  );
}

/** Decodes GeneralNames, keeping the kinds Pier understands. */
export function decodeGeneralNames(node: DerNode): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  for (const gn of sequenceItems(node, "GeneralNames")) {
    if (gn.tagClass !== "context") continue;
    const text = gn.content.toString("latin1");
    if (gn.tagNumber === 1) out.push({ type: "email", value: text });
    else if (gn.tagNumber === 2) out.push({ type: "dns", value: text });
    else if (gn.tagNumber === 6) out.push({ type: "uri", value: text });
    else if (gn.tagNumber === 7) out.push({ type: "ip", value: bytesToIp(gn.content) });
  }
  return out;
}
