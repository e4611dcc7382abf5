import { describe, expect, it } from "vitest";
import { backoff, healthySessionMs, lostLink, reconnectWait, resetsBackoff } from "./reconnect-policy.ts";

// The simulated agents' wait before a dial must be the real agent's (interfaces.md "Agent"), or
// the storm benchmark measures a fleet that does not exist. `random` pins the jitter.
const low = () => 0;
const high = () => 0.999_999;

describe("simulated agents' reconnect wait", () => {
  it("after a failure: equal-jitter backoff of the attempt (2ⁿ⁻¹..2ⁿ s), capped at 60 s, and the attempt advances", () => {
    expect(reconnectWait(0, undefined, low)).toEqual({ waitMs: 500, advance: true });
    expect(reconnectWait(3, undefined, low)).toEqual({ waitMs: 4_000, advance: true });
    expect(reconnectWait(3, undefined, high).waitMs).toBeCloseTo(8_000, 0);
    expect(reconnectWait(20, undefined, high).waitMs).toBeLessThanOrEqual(backoff.capMs);
    expect(reconnectWait(20, undefined, low).waitMs).toBe(backoff.capMs / 2);
  });

  it("after `restarting`: exactly the server's hint, and the attempt does not advance", () => {
    expect(reconnectWait(5, { code: "restarting", retryAfterSeconds: 7 }, high)).toEqual({ waitMs: 7_000, advance: false });
    // Even a hint past the cap does not park the agent longer than its backoff could.
    expect(reconnectWait(0, { code: "restarting", retryAfterSeconds: 3600 }, low)).toEqual({ waitMs: backoff.capMs, advance: false });
    // Without a hint: the backoff, still without advancing.
    expect(reconnectWait(2, { code: "restarting" }, low)).toEqual({ waitMs: 2_000, advance: false });
  });

  it("after `unavailable` with a hint: at least the hint, at least the backoff, never beyond the 60 s cap", () => {
    expect(reconnectWait(0, { code: "unavailable", retryAfterSeconds: 9 }, low)).toEqual({ waitMs: 9_000, advance: true });
    expect(reconnectWait(5, { code: "unavailable", retryAfterSeconds: 2 }, low)).toEqual({ waitMs: 16_000, advance: true });
    expect(reconnectWait(0, { code: "unavailable", retryAfterSeconds: 3600 }, low)).toEqual({ waitMs: backoff.capMs, advance: true });
  });

  it("other hints (the enrollment limits) keep their 1 h bound", () => {
    expect(reconnectWait(0, { code: "too_many_requests", retryAfterSeconds: 600 }, low)).toEqual({ waitMs: 600_000, advance: true });
  });

  it("after a dial that never reached the server (a killed server's closed port): at most one check-in interval, and the attempt advances", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), { code: "ECONNREFUSED", syscall: "connect" });
    expect(lostLink(refused)).toBe(true);
    expect(lostLink(Object.assign(new Error("no TLS handshake within 15000 ms"), { code: "ETIMEDOUT" }))).toBe(false);
    expect(reconnectWait(10, undefined, high, { unreached: true, checkinIntervalMs: 5_000 }).waitMs).toBeCloseTo(5_000, 0);
    expect(reconnectWait(10, undefined, low, { unreached: true, checkinIntervalMs: 5_000 })).toEqual({ waitMs: 2_500, advance: true });
    // Short backoffs stay as they were; a hint still wins.
    expect(reconnectWait(0, undefined, low, { unreached: true, checkinIntervalMs: 5_000 })).toEqual({ waitMs: 500, advance: true });
    expect(reconnectWait(10, { code: "unavailable", retryAfterSeconds: 30 }, low, { unreached: true, checkinIntervalMs: 5_000 }).waitMs).toBe(30_000);
  });

  it("the backoff starts over only after a session stayed up 2 minutes", () => {
    expect(healthySessionMs).toBe(120_000);
    expect(resetsBackoff(0, 119_999)).toBe(false);
    expect(resetsBackoff(0, 120_000)).toBe(true);
  });
});
