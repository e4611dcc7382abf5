import { describe, expect, it } from "vitest";
import { backoff, backoffDelay } from "./backoff.ts";

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
