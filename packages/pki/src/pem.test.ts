import { describe, expect, it } from "vitest";
import { parsePem, toPem } from "./pem.ts";

const block = (label: string, byte: number) => toPem(label, Buffer.alloc(48, byte));

describe("parsePem", () => {
  it("reads every block of a bundle, in order, ignoring text around them", () => {
    const blocks = parsePem(`subject=CN=a\n${block("CERTIFICATE", 1)}\n${block("CERTIFICATE", 2)}`);
    expect(blocks.map((found) => [found.label, found.der[0]])).toEqual([["CERTIFICATE", 1], ["CERTIFICATE", 2]]);
  });

  it("refuses a bundle cut short after complete blocks (issue 22: a half-written client CA bundle lost its last CA silently)", () => {
    const whole = block("CERTIFICATE", 1) + block("CERTIFICATE", 2);
    const first = block("CERTIFICATE", 1).length;
    // Cut inside the second BEGIN line, inside its base64, inside its END line.
    for (const cut of [first + 3, first + 11, first + 40, whole.length - 10]) {
      expect(() => parsePem(whole.slice(0, cut)), `cut at ${cut}`).toThrow(/PEM block 2 has a BEGIN line without a matching END line, after 1 complete one\(s\) \(truncated, or read while it was being written\?\)/);
    }
    // Cut between two blocks, the file holds one complete block: nothing tells it from a one-CA file.
    expect(parsePem(whole.slice(0, first))).toHaveLength(1);
    expect(parsePem(whole)).toHaveLength(2);
  });

  it("still refuses a lone BEGIN line", () => {
    expect(() => parsePem("-----BEGIN CERTIFICATE-----\nAAAA")).toThrow(/^The file has a PEM BEGIN line without a matching END line/);
  });
});
