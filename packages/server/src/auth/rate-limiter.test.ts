import { describe, expect, it } from "vitest";
import { RateLimiter, loginRateLimit } from "./rate-limiter.ts";

function clock(start = 1_000_000) {
  const state = { now: start };
  return { state, now: () => state.now, advance: (ms: number) => (state.now += ms) };
}

describe("RateLimiter", () => {
  it("allows a burst of 5 logins, then one every 12 s, saying how long to wait", () => {
    const time = clock();
    const limiter = new RateLimiter({ ...loginRateLimit, now: time.now });
    for (let i = 0; i < 5; i++) expect(limiter.take("192.0.2.1")).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(limiter.take("192.0.2.1")).toEqual({ allowed: false, retryAfterSeconds: 12 });
    time.advance(7_000);
    expect(limiter.take("192.0.2.1")).toEqual({ allowed: false, retryAfterSeconds: 5 });
    time.advance(5_000);
    expect(limiter.take("192.0.2.1").allowed).toBe(true);
    expect(limiter.take("192.0.2.1")).toEqual({ allowed: false, retryAfterSeconds: 12 });
    // Other keys have their own bucket.
    expect(limiter.take("192.0.2.2").allowed).toBe(true);
  });

  it("refills to the burst size and no further", () => {
    const time = clock();
    const limiter = new RateLimiter({ capacity: 2, refillIntervalMs: 1000, now: time.now });
    limiter.take("k");
    limiter.take("k");
    time.advance(3_600_000);
    expect([limiter.take("k"), limiter.take("k"), limiter.take("k")].map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it("forgets a key on reset and survives a clock stepping back", () => {
    const time = clock();
    const limiter = new RateLimiter({ capacity: 1, refillIntervalMs: 10_000, now: time.now });
    limiter.take("admin");
    expect(limiter.take("admin").allowed).toBe(false);
    limiter.reset("admin");
    expect(limiter.take("admin").allowed).toBe(true);
    time.advance(-60_000);
    expect(limiter.take("admin")).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it("drops buckets that have refilled, keeping memory bounded", () => {
    const time = clock();
    const limiter = new RateLimiter({ ...loginRateLimit, now: time.now });
    for (let i = 0; i < 1000; i++) limiter.take(`198.51.100.${i}`);
    expect(limiter.size).toBe(1000);
    time.advance(5 * 12_000);
    limiter.take("203.0.113.1");
    expect(limiter.size).toBe(1);
  });

  it("holds at most maxKeys buckets, dropping the least recently used", () => {
    const time = clock();
    const limiter = new RateLimiter({ capacity: 1, refillIntervalMs: 60_000, maxKeys: 3, now: time.now });
    limiter.take("a");
    limiter.take("b");
    limiter.take("c");
    limiter.take("a"); // a is now the most recent
    limiter.take("d"); // evicts b
    expect(limiter.size).toBe(3);
    expect(limiter.take("a").allowed).toBe(false);
    expect(limiter.take("b").allowed).toBe(true); // a fresh bucket
  });

  it("refuses nonsensical options", () => {
    expect(() => new RateLimiter({ capacity: 0, refillIntervalMs: 1000 })).toThrow(RangeError);
    expect(() => new RateLimiter({ capacity: 1, refillIntervalMs: 0 })).toThrow(RangeError);
  });
});
