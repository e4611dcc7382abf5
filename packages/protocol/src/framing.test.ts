import { describe, expect, it } from "vitest";
import { FrameDecoder, maxFrameBytes } from "./framing.ts";
import type { Validator } from "./framing.ts";

const anyObject: Validator<unknown> = { safeParse: (value) => ({ success: true, data: value }) };

/** A frame line (no newline) of exactly `bytes` UTF-8 bytes, in 1-byte or 3-byte characters. */
function frameOf(bytes: number, character: "x" | "€" = "x"): string {
  const room = bytes - '{"p":""}'.length;
  const filler = character === "x" ? "x".repeat(room) : "€".repeat(Math.floor(room / 3)) + "x".repeat(room % 3);
  return `{"p":"${filler}"}`;
}

describe("FrameDecoder size limit (found by fuzzing: a whole frame in one chunk skipped it)", () => {
  it("accepts a frame of exactly maxFrameBytes bytes however it arrives", () => {
    const line = frameOf(maxFrameBytes);
    expect(new TextEncoder().encode(line).length).toBe(maxFrameBytes);
    expect(new FrameDecoder(anyObject).push(`${line}\n`)).toHaveLength(1);
    const decoder = new FrameDecoder(anyObject);
    expect(decoder.push(line)).toEqual([]);
    expect(decoder.push("\n")).toHaveLength(1);
  });

  it("refuses a frame one byte over the limit even when it arrives whole with its newline", () => {
    expect(() => new FrameDecoder(anyObject).push(`${frameOf(maxFrameBytes + 1)}\n`)).toThrow(expect.objectContaining({ code: "message_malformed", message: expect.stringMatching(/exceeds 65536 bytes/) as unknown }));
    expect(() => new FrameDecoder(anyObject).push(new TextEncoder().encode(`{"type":"hello"}\n${frameOf(maxFrameBytes + 1)}\n`))).toThrow(/exceeds/);
  });

  it("counts UTF-8 bytes, not characters", () => {
    const wide = frameOf(maxFrameBytes + 3, "€");
    expect(wide.length).toBeLessThan(maxFrameBytes);
    expect(() => new FrameDecoder(anyObject).push(`${wide}\n`)).toThrow(/exceeds/);
    expect(() => new FrameDecoder(anyObject).push(wide)).toThrow(/exceeds/);
    expect(new FrameDecoder(anyObject).push(`${frameOf(maxFrameBytes, "€")}\n`)).toHaveLength(1);
  });
});
