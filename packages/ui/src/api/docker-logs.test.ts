import { describe, expect, it } from "vitest";
import { DockerLogDemuxer, matchingLines } from "./docker-logs.ts";

describe("matchingLines", () => {
  it("keeps the lines holding the search, whatever the case, and everything for an empty search", () => {
    const text = "tick 1\nERROR disk full\ntick 2\nerror again";
    expect(matchingLines(text, "error")).toBe("ERROR disk full\nerror again");
    expect(matchingLines(text, "  ")).toBe(text);
    expect(matchingLines(text, "nothing")).toBe("");
  });
});

describe("DockerLogDemuxer", () => {
  it("joins frames split across chunks", () => {
    const frame = (stream: number, text: string) => {
      const payload = new TextEncoder().encode(text);
      const bytes = new Uint8Array(8 + payload.length);
      bytes[0] = stream;
      new DataView(bytes.buffer).setUint32(4, payload.length);
      bytes.set(payload, 8);
      return bytes;
    };
    const both = new Uint8Array([...frame(1, "out\n"), ...frame(2, "err\n")]);
    const demuxer = new DockerLogDemuxer();
    expect(demuxer.push(both.subarray(0, 10))).toBe("");
    expect(demuxer.push(both.subarray(10))).toBe("out\nerr\n");
  });
});
