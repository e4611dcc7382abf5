import { describe, expect, it } from "vitest";
import { RenewalThrottle, renewalsPerDeviceWindow } from "./renewal-throttle.ts";

/** A small deterministic generator (mulberry32), so the spreading tests are repeatable. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const day = 86_400;

describe("RenewalThrottle", () => {
  it("allows a second's worth of renewals across the fleet, then answers 429-style with a Retry-After, and allows again once refilled", () => {
    const clock = { now: 0 };
    const throttle = new RenewalThrottle({ renewalsPerSecond: 2, now: () => clock.now, random: () => 0 });
    expect(throttle.take("1", 30 * day)).toEqual({ allowed: true });
    expect(throttle.take("2", 30 * day)).toEqual({ allowed: true });
    const refused = throttle.take("3", 30 * day);
    expect(refused).toMatchObject({ allowed: false, limit: "fleet", backlog: 1 });
    expect(refused.allowed === false && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    clock.now = 500;
    expect(throttle.take("3", 30 * day)).toEqual({ allowed: true });
    expect(throttle.backlog).toBe(0);
  });

  it("limits one device to three renewals per third of its lifetime and says when the oldest leaves the window", () => {
    const clock = { now: 0 };
    const throttle = new RenewalThrottle({ renewalsPerSecond: 1000, now: () => clock.now });
    // 60 s lifetime: a 20 s window.
    for (let i = 0; i < renewalsPerDeviceWindow; i += 1) {
      clock.now = i * 1000;
      expect(throttle.take("7", 60)).toEqual({ allowed: true });
    }
    clock.now = 5_000;
    expect(throttle.take("7", 60)).toMatchObject({ allowed: false, limit: "device", retryAfterSeconds: 15 });
    // Another device is not affected.
    expect(throttle.take("8", 60)).toEqual({ allowed: true });
    clock.now = 20_000;
    expect(throttle.take("7", 60)).toEqual({ allowed: true });
  });

  it("lets a device whose certificate comes from a CA being moved away from renew past its own limit, still within the fleet rate", () => {
    const clock = { now: 0 };
    const throttle = new RenewalThrottle({ renewalsPerSecond: 1000, now: () => clock.now });
    for (let i = 0; i < renewalsPerDeviceWindow; i += 1) expect(throttle.take("7", 60)).toEqual({ allowed: true });
    expect(throttle.take("7", 60)).toMatchObject({ allowed: false, limit: "device" });
    expect(throttle.take("7", 60, { perDeviceLimit: false })).toEqual({ allowed: true });
  });

  it("tells a refused crowd to come back at different seconds, spread over the backlog's drain time", () => {
    const throttle = new RenewalThrottle({ renewalsPerSecond: 50, now: () => 0, random: seeded(1) });
    const waits: number[] = [];
    for (let device = 0; device < 1000; device += 1) {
      const decision = throttle.take(String(device), 30 * day);
      if (!decision.allowed) waits.push(decision.retryAfterSeconds);
    }
    expect(waits).toHaveLength(950);
    // The last of 950 waiting devices drains in 19 s: the waits cover that span, not one second.
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(15);
    expect(new Set(waits).size).toBeGreaterThanOrEqual(15);
  });

  it("renews a 15,000-device fleet that all asks within one minute at no more than the rate per second, all within the drain time", () => {
    const rate = 50;
    const devices = 15_000;
    const clock = { now: 0 };
    const throttle = new RenewalThrottle({ renewalsPerSecond: rate, now: () => clock.now, random: seeded(42) });
    const random = seeded(7);
    // Each device's next attempt (ms); all first attempts fall within the first minute.
    const attempts = Array.from({ length: devices }, () => Math.floor(random() * 60_000));
    const perSecond = new Map<number, number>();
    let renewed = 0;
    let lastRenewalAt = 0;
    let requests = 0;
    for (let second = 0; renewed < devices && second < 3600; second += 1) {
      const due = attempts.flatMap((at, device) => (at >= second * 1000 && at < (second + 1) * 1000 ? [[at, device] as const] : [])).sort((a, b) => a[0] - b[0]);
      for (const [at, device] of due) {
        clock.now = at;
        requests += 1;
        const decision = throttle.take(String(device), 30 * day);
        if (decision.allowed) {
          renewed += 1;
          lastRenewalAt = at;
          perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
          attempts[device] = Number.POSITIVE_INFINITY;
        } else {
          attempts[device] = at + decision.retryAfterSeconds * 1000;
        }
      }
    }
    expect(renewed).toBe(devices);
    // A second's burst plus one second's refill at most.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(2 * rate);
    // 15,000 at 50/s is 300 s; the random spread may leave seconds idle, but not many.
    expect(lastRenewalAt).toBeGreaterThanOrEqual(290_000);
    expect(lastRenewalAt).toBeLessThan(450_000);
    // Retries are spread, not a tight loop: a few attempts per device on average.
    expect(requests / devices).toBeLessThan(8);
  });
});
