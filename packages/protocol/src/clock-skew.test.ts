import { describe, expect, it } from "vitest";
import { clockSkewLimits, describeClockSkew, formatSkewDuration, isReportableSkew } from "./clock-skew.ts";
import { FrameDecoder, encodeFrame } from "./framing.ts";
import { agentMessageSchema } from "./messages.ts";

const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "edge-1", agentVersion: "0.1.0", platform: "docker", hostname: "h", os: "linux", arch: "x64" } } as const;

describe("clock skew", () => {
  it("says how far and which way, to the minute past an hour", () => {
    expect(describeClockSkew(-(5 * 3600 + 2 * 60 + 7) * 1000)).toBe("5 h 2 min behind");
    expect(describeClockSkew(5 * 3600 * 1000)).toBe("5 h ahead of");
    expect(formatSkewDuration(200_000)).toBe("3 min 20 s");
    expect(formatSkewDuration(-(2 * 86_400 + 4 * 3600 + 59) * 1000)).toBe("2 d 4 h");
    expect(formatSkewDuration(400)).toBe("0 s");
    expect(formatSkewDuration(-(5 * 3600 - 0.6) * 1000)).toBe("5 h");
    expect(formatSkewDuration((3600 + 59 * 60 + 31) * 1000)).toBe("2 h");
  });

  it("reports from a minute either way", () => {
    expect(isReportableSkew(59_999)).toBe(false);
    expect(isReportableSkew(-60_000)).toBe(true);
    expect(isReportableSkew(clockSkewLimits.reportSeconds * 1000)).toBe(true);
  });

  it("carries the device's clock in the hello and heartbeats, within its limits", () => {
    const decoder = new FrameDecoder(agentMessageSchema);
    expect(decoder.push(encodeFrame({ ...hello, clock: 1_796_000_000_000 }))).toEqual([{ ...hello, clock: 1_796_000_000_000 }]);
    expect(decoder.push(encodeFrame({ type: "heartbeat", seq: 2, clock: 0 }))).toEqual([{ type: "heartbeat", seq: 2, clock: 0 }]);
    expect(decoder.push(encodeFrame({ type: "heartbeat", seq: 3, clock: clockSkewLimits.maxClockMs }))).toEqual([{ type: "heartbeat", seq: 3, clock: clockSkewLimits.maxClockMs }]);
    for (const clock of [clockSkewLimits.maxClockMs + 1, -1, 1.5, "1796000000000"]) {
      expect(() => decoder.push(`${JSON.stringify({ ...hello, clock })}\n`)).toThrow(/clock/);
      expect(() => decoder.push(`${JSON.stringify({ type: "heartbeat", seq: 1, clock })}\n`)).toThrow(/clock/);
    }
  });
});
