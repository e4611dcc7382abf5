import { X509Certificate, createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { childrenOf, readRoot } from "./asn1/der-reader.ts";
import { explicit, integer, nullValue, oid, sequence, setOf, tlv, utf8String } from "./asn1/der-writer.ts";
import { parseCertificate, signCertificate } from "./certificate.ts";
import { signCrl, parseCrl } from "./crl.ts";
import { createCsr, parseCsr } from "./csr.ts";
import { keyIdentifier, subjectKeyIdentifierExtension } from "./extensions.ts";
import { generateKeyPairSync, spkiDer } from "./keys.ts";
import { decodeName, encodeName } from "./names.ts";

// Cases found by `npm run fuzz` (packages/fuzz): each was read differently by Pier than by
// Node's X509Certificate or openssl, or crashed with an error other than PkiError.

const key = generateKeyPairSync("ecdsa-p256");
const name = encodeName({ commonName: "fuzz" });
const day = 86_400_000;

function certificate(extensions: Buffer[], publicKey = key.publicKey): Buffer {
  return signCertificate({ subject: name, issuer: name, publicKey, signingKey: key.privateKey, notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day), extensions });
}

/** Re-encodes a SEQUENCE with its children changed (signatures are not checked by the parsers). */
function rebuild(der: Buffer, change: (children: Buffer[]) => Buffer[]): Buffer {
  return sequence(...change(childrenOf(readRoot(der)).map((c) => Buffer.from(c.raw))));
}

describe("parseCertificate", () => {
  it("refuses with PkiError a certificate whose public key OpenSSL cannot decode (threw a bare Error before)", () => {
    const good = certificate([]);
    const spki = spkiDer(key.publicKey);
    const at = good.indexOf(spki) + spki.length - 65; // the uncompressed point's 0x04 prefix
    expect(good[at]).toBe(0x04);
    const damaged = Buffer.from(good);
    damaged[at] = 0x05; // no point format is 5 (0x06/0x07, hybrid, can be valid)
    // Precondition: Node reads the certificate and fails only when asked for the key.
    const x509 = new X509Certificate(damaged);
    expect(() => x509.publicKey).toThrow();
    expect(parseCertificate(good).key.label).toBe("ECDSA P-256");
    expect(() => parseCertificate(damaged)).toThrow(expect.objectContaining({ name: "PkiError", code: "wrong_input_type" }));
  });

  it("refuses an extension present twice (RFC 5280 §4.2)", () => {
    const ski = subjectKeyIdentifierExtension(keyIdentifier(key.publicKey));
    expect(parseCertificate(certificate([ski])).extensions.subjectKeyId).toBeDefined();
    const twice = certificate([ski, ski]);
    expect(() => new X509Certificate(twice)).not.toThrow();
    expect(() => parseCertificate(twice)).toThrow(/appears twice/);
  });
});

describe("decodeName", () => {
  const attribute = (value: Buffer, extra: Buffer[] = []) => sequence(setOf(sequence(oid("2.5.4.3"), value, ...extra)));

  it("reads (type, string) pairs and refuses the shapes OpenSSL refuses", () => {
    expect(decodeName(readRoot(attribute(utf8String("edge"))))).toEqual([{ oid: "2.5.4.3", type: "CN", value: "edge" }]);
    expect(() => decodeName(readRoot(attribute(utf8String("edge"), [utf8String("more")])))).toThrow(/exactly one type and one value/);
    expect(() => decodeName(readRoot(attribute(integer(5))))).toThrow(/cannot have tag 0x2/);
    expect(() => decodeName(readRoot(attribute(tlv(0x04, Buffer.from("x")))))).toThrow(/cannot have tag 0x4/);
    expect(() => decodeName(readRoot(sequence(sequence(sequence(oid("2.5.4.3"), utf8String("edge"))))))).toThrow(/relative distinguished name/);
    // Primitive values are checked as DER, as OpenSSL does: a BIT STRING with 9 unused bits.
    expect(decodeName(readRoot(attribute(tlv(0x03, Buffer.from([0, 0x41])))))).toHaveLength(1);
    expect(() => decodeName(readRoot(attribute(tlv(0x03, Buffer.from([9, 0x41])))))).toThrow(/unused bits/);
  });

  it("refuses an ENUMERATED value, as Node's X509Certificate (OpenSSL 3.5) and openssl 3.0 do", () => {
    const enumerated = attribute(tlv(0x0a, Buffer.from([1])));
    const certificateNamed = signCertificate({ subject: enumerated, issuer: name, publicKey: key.publicKey, signingKey: key.privateKey, notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day), extensions: [] });
    expect(() => new X509Certificate(certificateNamed)).toThrow();
    expect(new X509Certificate(certificate([])).subject).toBe("CN=fuzz");
    expect(() => decodeName(readRoot(enumerated))).toThrow(/cannot have tag 0xa/);
  });
});

describe("parseCsr", () => {
  const csr = createCsr({ privateKey: key.privateKey, subject: { commonName: "edge-1" } });

  it("refuses extra fields in the request info and a non-[0] attributes field", () => {
    expect(parseCsr(csr).subjectText).toBe("CN=edge-1");
    const [info, ...rest] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const withExtra = sequence(rebuild(info!, (children) => [...children, integer(1)]), ...rest);
    const attributesAsSet = sequence(rebuild(info!, (children) => [...children.slice(0, 3), setOf()]), ...rest);
    expect(() => parseCsr(withExtra)).toThrow(expect.objectContaining({ code: "wrong_input_type" }));
    expect(() => parseCsr(attributesAsSet)).toThrow(expect.objectContaining({ code: "wrong_input_type" }));
  });

  it("refuses a padded version, an attribute without its SET of values and damaged DER inside attribute values", () => {
    const [info, ...rest] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const withAttributes = (...attributes: Buffer[]) => sequence(rebuild(info!, (c) => [...c.slice(0, 3), tlv(0xa0, Buffer.concat(attributes))]), ...rest);
    const challenge = (value: Buffer) => sequence(oid("1.2.840.113549.1.9.7"), setOf(value));
    expect(parseCsr(withAttributes(challenge(utf8String("secret")))).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(sequence(rebuild(info!, (c) => [tlv(0x02, Buffer.from([0, 0])), ...c.slice(1)]), ...rest))).toThrow(/not minimally encoded/);
    expect(() => parseCsr(withAttributes(sequence(oid("1.2.840.113549.1.9.7"))))).toThrow(/one type and one SET of values/);
    expect(() => parseCsr(withAttributes(sequence(oid("1.2.840.113549.1.9.7"), utf8String("x"))))).toThrow(/attribute values has an unexpected type/);
    expect(() => parseCsr(withAttributes(challenge(tlv(0x03, Buffer.from([9, 0xff])))))).toThrow(/unused bits/);
  });

  it("refuses a request with a field after its signature", () => {
    expect(() => parseCsr(rebuild(csr, (c) => [...c, c[2]!]))).toThrow(expect.objectContaining({ code: "wrong_input_type" }));
  });

  it("refuses NULL algorithm parameters with content", () => {
    const [info, , signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const rsaNull = sequence(oid("1.2.840.10045.4.3.2"), nullValue());
    expect(parseCsr(sequence(info!, rsaNull, signature!)).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(sequence(info!, sequence(oid("1.2.840.10045.4.3.2"), tlv(0x05, Buffer.from([1]))), signature!))).toThrow(/malformed parameters/);
  });

  it("refuses BOOLEAN algorithm parameters that are not one octet (OpenSSL: boolean is wrong length)", () => {
    const [info, , signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const withBoolean = (content: Buffer) => sequence(info!, sequence(oid("1.2.840.10045.4.3.2"), tlv(0x01, content)), signature!);
    expect(parseCsr(withBoolean(Buffer.from([0xff]))).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(withBoolean(Buffer.alloc(0)))).toThrow(/malformed parameters/);
    expect(() => parseCsr(withBoolean(Buffer.from([0xff, 0xff])))).toThrow(/malformed parameters/);
  });

  it("refuses algorithm parameters that are a SEQUENCE or SET tagged primitive (openssl: type not constructed)", () => {
    const [info, , signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const withParameters = (parameters: Buffer) => sequence(info!, sequence(oid("1.2.840.10045.4.3.2"), parameters), signature!);
    expect(parseCsr(withParameters(tlv(0x31, Buffer.alloc(0)))).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(withParameters(tlv(0x11, Buffer.alloc(0))))).toThrow(/malformed parameters/);
    expect(() => parseCsr(withParameters(tlv(0x10, Buffer.alloc(0))))).toThrow(/malformed parameters/);
  });

  it("reads algorithm parameters by their type, as OpenSSL does with an ANY (openssl: string too short)", () => {
    const [info, , signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const withParameters = (parameters: Buffer) => sequence(info!, sequence(oid("1.2.840.10045.4.3.2"), parameters), signature!);
    expect(parseCsr(withParameters(tlv(0x03, Buffer.from([0])))).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(withParameters(tlv(0x03, Buffer.alloc(0))))).toThrow(/empty bit string/);
    expect(() => parseCsr(withParameters(tlv(0x02, Buffer.from([0, 1]))))).toThrow(/not minimally encoded/);
  });

  it("refuses a length not minimally encoded inside the public key's algorithm (Node's OpenSSL reads it)", () => {
    const [info, alg, signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const infoItems = childrenOf(readRoot(info!)).map((c) => Buffer.from(c.raw));
    const [keyAlgorithm, keyBits] = childrenOf(readRoot(infoItems[2]!)).map((c) => Buffer.from(c.raw));
    const [algorithmOid, curve] = childrenOf(readRoot(keyAlgorithm!)).map((c) => Buffer.from(c.raw));
    const paddedCurve = Buffer.concat([Buffer.from([0x06, 0x81, curve!.length - 2]), curve!.subarray(2)]);
    const spki = sequence(sequence(algorithmOid!, paddedCurve), keyBits!);
    // Precondition: Node's createPublicKey reads the key with the padded length.
    expect(createPublicKey({ key: spki, format: "der", type: "spki" }).asymmetricKeyType).toBe("ec");
    const request = sequence(sequence(infoItems[0]!, infoItems[1]!, spki, ...infoItems.slice(3)), alg!, signature!);
    expect(() => parseCsr(request)).toThrow(/length is not minimally encoded/);
  });

  it("refuses a length not minimally encoded (X.690 §10.1; openssl 3.0 refused `a0 83 00 00 00` at the end of the request info)", () => {
    const [info, alg, signature] = childrenOf(readRoot(csr)).map((c) => Buffer.from(c.raw));
    const infoItems = childrenOf(readRoot(info!)).map((c) => Buffer.from(c.raw));
    const attributes = infoItems.at(-1)!;
    expect(attributes.subarray(0, 2)).toEqual(Buffer.from("a000", "hex"));
    const withAttributes = (encoded: string) => sequence(sequence(...infoItems.slice(0, -1), Buffer.from(encoded, "hex")), alg!, signature!);
    expect(parseCsr(withAttributes("a000")).subjectText).toBe("CN=edge-1");
    expect(() => parseCsr(withAttributes("a083000000"))).toThrow(/length is not minimally encoded/);
    expect(() => parseCsr(withAttributes("a08100"))).toThrow(/length is not minimally encoded/);
  });
});

describe("parseCrl", () => {
  const crl = signCrl({ issuer: name, issuerKeyId: keyIdentifier(key.publicKey), signingKey: key.privateKey, crlNumber: 7, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + day), revoked: [] });
  const [tbs, ...rest] = childrenOf(readRoot(crl)).map((c) => Buffer.from(c.raw));

  it("refuses a second crlExtensions field, a duplicate extension and a damaged inner algorithm", () => {
    expect(parseCrl(crl).crlNumber).toBe(7);
    const extensionsField = childrenOf(readRoot(tbs!)).at(-1)!;
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c, Buffer.from(extensionsField.raw)]), ...rest))).toThrow(/unexpected fields/);
    const crlNumber = sequence(oid("2.5.29.20"), tlv(0x04, integer(7)));
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, sequence(crlNumber, crlNumber))]), ...rest))).toThrow(/appears twice/);
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [c[0]!, tlv(0x53, Buffer.from("xx")), ...c.slice(2)]), ...rest))).toThrow(/TBSCertList signature/);
  });

  it("refuses trailing bytes inside an extension value and a negative CRL number", () => {
    const number = (content: Buffer) => sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, sequence(sequence(oid("2.5.29.20"), tlv(0x04, content))))]), ...rest);
    expect(parseCrl(number(Buffer.from("02017f", "hex"))).crlNumber).toBe(127);
    expect(() => parseCrl(number(Buffer.from("02017f45", "hex")))).toThrow(/trailing bytes/);
    expect(() => parseCrl(number(Buffer.from("0201f9", "hex")))).toThrow(/non-negative/);
  });

  it("refuses a CRL number tagged ENUMERATED (CRLNumber is an INTEGER; openssl shows no number)", () => {
    const number = (content: Buffer) => sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, sequence(sequence(oid("2.5.29.20"), tlv(0x04, content))))]), ...rest);
    expect(parseCrl(number(Buffer.from("020101", "hex"))).crlNumber).toBe(1);
    expect(() => parseCrl(number(Buffer.from("0a0101", "hex")))).toThrow(/CRL number/);
  });

  it("refuses an issuer UniversalString holding a value that is not a character (Node and openssl refuse it)", () => {
    const issuer = (hex: string) => sequence(setOf(sequence(oid("2.5.4.3"), tlv(0x1c, Buffer.from(hex, "hex")))));
    const withIssuer = (hex: string) => sequence(rebuild(tbs!, (c) => [c[0]!, c[1]!, issuer(hex), ...c.slice(3)]), ...rest);
    expect(parseCrl(withIssuer("00000041")).issuer).toHaveLength(1);
    expect(() => parseCrl(withIssuer("50696572"))).toThrow(/not a character/);
    expect(() => parseCrl(withIssuer("0000d800"))).toThrow(/not a character/);
  });

  it("refuses a [0] extensions field holding two elements", () => {
    const crlNumber = sequence(oid("2.5.29.20"), tlv(0x04, integer(7)));
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, Buffer.concat([sequence(crlNumber), integer(1)]))]), ...rest))).toThrow(/more than one element/);
  });

  it("refuses an empty version, an entry with extra fields and an extension with extra elements", () => {
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [tlv(0x02, Buffer.alloc(0)), ...c.slice(1)]), ...rest))).toThrow(/not minimally encoded/);
    const entry = sequence(integer(5), childrenOf(readRoot(tbs!))[3]!.raw, sequence(), integer(1));
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c.slice(0, 5), sequence(entry), ...c.slice(5)]), ...rest))).toThrow(/extra fields/);
    const fourParts = sequence(oid("2.5.29.20"), tlv(0x01, Buffer.from([0])), tlv(0x04, integer(7)), integer(1));
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, sequence(fourParts))]), ...rest))).toThrow(/optional BOOLEAN/);
  });

  it("refuses a field after the signature (openssl refuses the CRL)", () => {
    expect(parseCrl(sequence(tbs!, ...rest)).crlNumber).toBe(7);
    expect(() => parseCrl(sequence(tbs!, ...rest, rest[1]!))).toThrow(/a field after its signature/);
  });

  it("refuses an extension value that is not an OCTET STRING", () => {
    const utf8Value = sequence(oid("2.5.29.20"), utf8String("7"));
    expect(() => parseCrl(sequence(rebuild(tbs!, (c) => [...c.slice(0, -1), explicit(0, sequence(utf8Value))]), ...rest))).toThrow(/CRL extension value has an unexpected type/);
  });
});
