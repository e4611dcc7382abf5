import { describe, expect, it } from "vitest";
import { bitString, integer, nullValue, oid, sequence, time, tlv, utf8String } from "./der-writer.ts";
import { childrenOf, readAlgorithmIdentifier, readBitString, readElement, readIntegerHex, readOid, readRoot, readSmallInt, readString, readTime } from "./der-reader.ts";

describe("DER", () => {
  it("round-trips object identifiers, including large arcs", () => {
    for (const id of ["2.5.4.3", "1.2.840.113549.1.1.11", "1.3.6.1.4.1.311.60.2.1.3", "2.999.1"]) {
      expect(readOid(readRoot(oid(id)))).toBe(id);
    }
    expect(oid("1.2.840.10045.4.3.2").toString("hex")).toBe("06082a8648ce3d040302");
  });

  it("encodes integers minimally and positive", () => {
    expect(integer(0).toString("hex")).toBe("020100");
    expect(integer(127).toString("hex")).toBe("02017f");
    expect(integer(128).toString("hex")).toBe("02020080");
    expect(integer(Buffer.from("0000ff", "hex")).toString("hex")).toBe("020200ff");
    expect(readIntegerHex(readRoot(integer(Buffer.from("80aa", "hex"))))).toBe("80aa");
  });

  it("uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    const before = time(new Date("2049-12-31T23:59:59Z"));
    const after = time(new Date("2050-01-01T00:00:00Z"));
    expect(before[0]).toBe(0x17);
    expect(after[0]).toBe(0x18);
    expect(readTime(readRoot(before)).toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(readTime(readRoot(after)).toISOString()).toBe("2050-01-01T00:00:00.000Z");
  });

  it("refuses times whose fields are out of range instead of rolling them over (found by fuzzing)", () => {
    const utc = (text: string) => readRoot(Buffer.concat([Buffer.from([0x17, text.length]), Buffer.from(text, "latin1")]));
    const generalized = (text: string) => readRoot(Buffer.concat([Buffer.from([0x18, text.length]), Buffer.from(text, "latin1")]));
    // Precondition: the same layout with real values reads.
    expect(readTime(utc("260405130447Z")).toISOString()).toBe("2026-04-05T13:04:47.000Z");
    expect(readTime(utc("240229235959Z")).toISOString()).toBe("2024-02-29T23:59:59.000Z");
    expect(readTime(generalized("00500101000000Z")).getUTCFullYear()).toBe(50);
    // Month 52 was read as 2030-04-05 before; Node and openssl show no date at all.
    for (const text of ["265205130447Z", "261301000000Z", "261200000000Z", "260230000000Z", "250229000000Z", "261231240000Z", "261231236000Z", "261231235960Z"]) {
      expect(() => readTime(utc(text)), text).toThrow(/is not a real date and time/);
    }
    expect(() => readTime(generalized("20261332000000Z"))).toThrow(expect.objectContaining({ code: "malformed_der" }));
  });

  it("encodes long lengths and nests sequences", () => {
    const long = utf8String("x".repeat(300));
    expect(long.subarray(0, 4).toString("hex")).toBe("0c82012c");
    const outer = readRoot(sequence(long, integer(5)));
    expect(childrenOf(outer).map((c) => c.tag)).toEqual([0x0c, 0x02]);
  });

  it("rejects truncated, indefinite-length and trailing data with malformed_der", () => {
    const good = sequence(integer(1));
    expect(() => readRoot(good.subarray(0, good.length - 1))).toThrow(expect.objectContaining({ code: "malformed_der" }));
    expect(() => readElement(Buffer.from("3080020101", "hex"))).toThrow(/indefinite length/);
    expect(() => readRoot(Buffer.concat([good, Buffer.from([0])]))).toThrow(/trailing bytes/);
    expect(() => readElement(Buffer.from([0x30]))).toThrow(/past the end/);
  });

  describe("refuses encodings OpenSSL refuses (found by fuzzing against openssl)", () => {
    const raw = (hex: string) => readRoot(Buffer.from(hex, "hex"));

    it("an odd-length BMPString (threw a RangeError before), a partial UniversalString, invalid UTF-8", () => {
      expect(readString(raw("1e020041"))).toBe("A");
      expect(() => readString(raw("1e03004100"))).toThrow(expect.objectContaining({ name: "PkiError", code: "malformed_der" }));
      expect(() => readString(raw("1c03000000"))).toThrow(/UniversalString/);
      expect(readString(raw("0c0363c3a9"))).toBe("cé");
      expect(() => readString(raw("0c0263e9"))).toThrow(/not valid UTF-8/);
    });

    it("object identifiers that are empty, padded with 0x80 or cut in a subidentifier", () => {
      expect(readOid(raw("06032a8648"))).toBe("1.2.840");
      for (const hex of ["0600", "06032a8048", "0603802a48", "06022a86"]) expect(() => readOid(raw(hex)), hex).toThrow(/not minimally encoded/);
    });

    it("integers with redundant leading bytes, or none", () => {
      expect(readIntegerHex(raw("02020080"))).toBe("80");
      expect(readSmallInt(raw("020200ff"))).toBe(255);
      expect(() => readSmallInt(raw("0201ff"))).toThrow(/non-negative/);
      for (const hex of ["0200", "0202001d", "0202ff80"]) expect(() => readIntegerHex(raw(hex)), hex).toThrow(/not minimally encoded/);
    });

    it("bit strings with more than 7 unused bits, or unused bits without bits", () => {
      expect(readBitString(raw("03020780")).unusedBits).toBe(7);
      expect(readBitString(raw("030100")).bytes.length).toBe(0);
      expect(() => readBitString(raw("03020880"))).toThrow(/unused bits/);
      expect(() => readBitString(raw("030103"))).toThrow(/unused bits/);
    });

    it("algorithm identifiers with non-empty NULL parameters or extra fields", () => {
      expect(readAlgorithmIdentifier(readRoot(sequence(oid("1.2.840.113549.1.1.11"), nullValue())), "alg")).toBe("1.2.840.113549.1.1.11");
      expect(() => readAlgorithmIdentifier(readRoot(sequence(oid("1.2.840.113549.1.1.11"), tlv(0x05, Buffer.from([0])))), "alg")).toThrow(/malformed parameters/);
      expect(() => readAlgorithmIdentifier(readRoot(sequence(oid("1.2.840.10045.4.3.2"), nullValue(), nullValue())), "alg")).toThrow(/malformed parameters/);
      expect(bitString(Buffer.alloc(0)).toString("hex")).toBe("030100");
    });
  });
});
