import { describe, expect, it } from "vitest";
import { backoff, backoffDelay, nextDial } from "./backoff.ts";

describe("reconnect backoff", () => {
  it("doubles from 1 s up to a 60 s ceiling, half of each delay random", () => {
    expect(backoffDelay(0, () => 0)).toBe(500);
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 0)).toBe(4000);
    expect(backoffDelay(3, () => 1)).toBe(8000);
    expect(backoffDelay(10, () => 1)).toBe(backoff.capMs);
    expect(backoffDelay(1000, () => 0.5)).toBe(backoff.capMs * 0.75);
  });

  it("spreads a fleet's reconnects instead of synchronising them", () => {
    const delays = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(4))));
    expect(delays.size).toBeGreaterThan(40);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(8000);
  });
});

describe("the wait before the next dial (nextDial)", () => {
  const half = () => 0.5;

  it("without a hint: the backoff of this attempt, and the attempt advances", () => {
    expect(nextDial(2, {}, half)).toEqual({ delayMs: backoffDelay(2, half), attempt: 3 });
    expect(nextDial(0, { code: "connect_failed" }, () => 0)).toEqual({ delayMs: 500, attempt: 1 });
  });

  it("a busy server's hint: at least the hint, at least the backoff, never past the 60 s cap", () => {
    // Before: a refused frame's retryAfterSeconds was not read, the agent redialled after 0.5–1 s.
    expect(nextDial(0, { code: "unavailable", retryAfterMs: 7_000 }, half)).toEqual({ delayMs: 7_000, attempt: 1 });
    expect(nextDial(5, { code: "unavailable", retryAfterMs: 2_000 }, half)).toEqual({ delayMs: backoffDelay(5, half), attempt: 6 });
    expect(nextDial(0, { code: "unavailable", retryAfterMs: 3_600_000 }, half)).toEqual({ delayMs: backoff.capMs, attempt: 1 });
  });

  it("restarting: exactly the hint (at most 60 s), and the backoff does not advance", () => {
    expect(nextDial(4, { code: "restarting", retryAfterMs: 3_000 }, half)).toEqual({ delayMs: 3_000, attempt: 4 });
    expect(nextDial(0, { code: "restarting", retryAfterMs: 1_000 }, half)).toEqual({ delayMs: 1_000, attempt: 0 });
    expect(nextDial(0, { code: "restarting", retryAfterMs: 600_000 }, half)).toEqual({ delayMs: backoff.capMs, attempt: 0 });
    // Without a hint (an older server): the backoff, still not advanced.
    expect(nextDial(3, { code: "restarting" }, half)).toEqual({ delayMs: backoffDelay(3, half), attempt: 3 });
  });

  it("an enrollment limit's hint keeps its 1 h bound", () => {
    expect(nextDial(0, { code: "too_many_requests", retryAfterMs: 600_000 }, half)).toEqual({ delayMs: 600_000, attempt: 1 });
    expect(nextDial(0, { code: "too_many_requests", retryAfterMs: 7_200_000 }, half)).toEqual({ delayMs: 3_600_000, attempt: 1 });
  });
});
