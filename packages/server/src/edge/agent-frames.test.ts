import { agentMessageSchema } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { agentFrames } from "./agent-frames.ts";

const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "e", agentVersion: "1", platform: "docker", hostname: "h", os: "linux", arch: "x64" } };

describe("agentFrames", () => {
  it.each([
    { type: "heartbeat", seq: 0 },
    { type: "heartbeat", seq: 42 },
    { type: "heartbeat", seq: Number.MAX_SAFE_INTEGER },
    { type: "heartbeat", seq: 7, extra: "dropped", nested: { a: 1 } },
    { type: "heartbeat", seq: 8, docker: { state: "up" } },
    { type: "heartbeat", seq: 9, docker: { state: "down", error: "connect ENOENT /var/run/docker.sock" } },
    { type: "heartbeat", seq: 10, docker: { state: "down", error: "x".repeat(301) } },
    { type: "heartbeat", seq: 11, docker: { state: "sleepy" } },
    { type: "heartbeat", seq: 12, docker: null },
    { type: "heartbeat", seq: -0 },
    { type: "heartbeat", seq: -1 },
    { type: "heartbeat", seq: 1.5 },
    { type: "heartbeat", seq: 2 ** 53 },
    { type: "heartbeat", seq: "3" },
    { type: "heartbeat", seq: null },
    { type: "heartbeat" },
    { type: "heartbeat", seq: Number.NaN },
    { type: "heartbeat", seq: Number.POSITIVE_INFINITY },
    { type: "Heartbeat", seq: 1 },
    { seq: 1 },
    [{ type: "heartbeat", seq: 1 }],
    null,
    "heartbeat",
    5,
    hello,
    { ...hello, agent: { edgeId: "" } },
    { type: "toString" },
    // The device's clock (docs/identity.md "Clock skew"): kept by the fast path, within its limits.
    { type: "heartbeat", seq: 13, clock: 1_796_000_000_000 },
    { type: "heartbeat", seq: 14, clock: 0 },
    { type: "heartbeat", seq: 15, clock: 8_640_000_000_000_000 },
    { type: "heartbeat", seq: 16, clock: 8_640_000_000_000_001 },
    { type: "heartbeat", seq: 17, clock: -1 },
    { type: "heartbeat", seq: 18, clock: 1.5 },
    { type: "heartbeat", seq: 19, clock: "1796000000000" },
    { type: "heartbeat", seq: 20, clock: null },
    { type: "heartbeat", seq: 21, clock: 1_796_000_000_000, docker: { state: "up" } },
  ])("answers as agentMessageSchema does: %j", (value) => {
    const expected = agentMessageSchema.safeParse(value);
    const answer = agentFrames.safeParse(value);
    expect(answer.success).toBe(expected.success);
    if (answer.success && expected.success) expect(answer.data).toEqual(expected.data);
    if (!answer.success && !expected.success) expect(answer.error.issues[0]?.message).toBe(expected.error.issues[0]?.message);
  });

  it("keeps a heartbeat's Docker state, and refuses a reason over 300 characters", () => {
    const down = { type: "heartbeat", seq: 3, docker: { state: "down", error: "e".repeat(300) } };
    expect(agentFrames.safeParse(down)).toEqual({ success: true, data: down });
    const long = agentFrames.safeParse({ ...down, docker: { state: "down", error: "e".repeat(301) } });
    expect(long.success ? [] : long.error.issues[0]?.path).toEqual(["docker", "error"]);
  });
});
