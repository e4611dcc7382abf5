import { describe, expect, it } from "vitest";
import { integer, oid, sequence, time, utf8String } from "./der-writer.ts";
import { childrenOf, readElement, readIntegerHex, readOid, readRoot, readTime } from "./der-reader.ts";

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
});
