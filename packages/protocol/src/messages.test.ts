import { describe, expect, it } from "vitest";
import { FrameDecoder, encodeFrame } from "./framing.ts";
import { agentMessageSchema } from "./messages.ts";

const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "edge-1", agentVersion: "0.1.0", platform: "docker", hostname: "h", os: "linux", arch: "x64" } } as const;

describe("frames", () => {
  it("reassembles frames split across chunks", () => {
    const decoder = new FrameDecoder(agentMessageSchema);
    const bytes = encodeFrame(hello) + encodeFrame({ type: "heartbeat", seq: 1 });
    const cut = 17;
    expect(decoder.push(bytes.slice(0, cut))).toEqual([]);
    expect(decoder.push(bytes.slice(cut))).toEqual([hello, { type: "heartbeat", seq: 1 }]);
  });

  it("keeps a multi-byte character split across chunks", () => {
    const decoder = new FrameDecoder(agentMessageSchema);
    const bytes = Buffer.from(encodeFrame({ ...hello, agent: { ...hello.agent, hostname: "café-01" } }));
    const cut = bytes.indexOf(Buffer.from("é")) + 1;
    expect(decoder.push(bytes.subarray(0, cut))).toEqual([]);
    expect(decoder.push(bytes.subarray(cut))[0]).toMatchObject({ agent: { hostname: "café-01" } });
  });

  it("names the invalid field", () => {
    const decoder = new FrameDecoder(agentMessageSchema);
    expect(() => decoder.push(`${JSON.stringify({ ...hello, agent: { ...hello.agent, edgeId: "bad id" } })}\n`)).toThrow(/agent\.edgeId: EDGE_ID may hold/);
    expect(() => decoder.push("{nope\n")).toThrow(/not valid JSON/);
    expect(() => decoder.push("x".repeat(70_000))).toThrow(/exceeds/);
  });

  it("carries a per-environment key's secret in the hello, within its limits", () => {
    const decoder = new FrameDecoder(agentMessageSchema);
    const secret = "q8Zr1pX0bY3kV7nM2sT5wA9cD4eF6gH8jK0lN1oP2rU";
    expect(decoder.push(encodeFrame({ ...hello, environmentId: 4, edgeKeySecret: secret }))).toEqual([{ ...hello, environmentId: 4, edgeKeySecret: secret }]);
    expect(() => decoder.push(encodeFrame({ ...hello, edgeKeySecret: "a".repeat(129) }))).toThrow(/edgeKeySecret: must be 22 to 128 base64url/);
    expect(() => decoder.push(encodeFrame({ ...hello, edgeKeySecret: "too-short" }))).toThrow(/edgeKeySecret/);
  });
});
