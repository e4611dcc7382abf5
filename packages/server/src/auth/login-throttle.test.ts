import { describe, expect, it } from "vitest";
import { LoginThrottle, loginThrottleDefaults } from "./login-throttle.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("LoginThrottle", () => {
  const attacker = "203.0.113.9";
  const admin = "198.51.100.4";

  it("limits each client: a burst of 5, then one attempt per 12 s, answered with Retry-After", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now });
    const answers = Array.from({ length: 6 }, (_, i) => throttle.admit(attacker, `user-${i}`));
    expect(answers.slice(0, 5).every((a) => a.allowed)).toBe(true);
    expect(answers[5]).toEqual({ allowed: false, retryAfterSeconds: 12, limitedBy: "source" });
    time.advance(loginThrottleDefaults.perSource.refillIntervalMs);
    expect(throttle.admit(attacker, "user-7").allowed).toBe(true);
  });

  it("treats every address of one IPv6 /64 as one client", () => {
    const throttle = new LoginThrottle({ now: clock().now });
    for (let i = 1; i <= 5; i++) expect(throttle.admit(`2001:db8:5:6::${i.toString(16)}`, `name-${i}`).allowed).toBe(true);
    expect(throttle.admit("2001:db8:5:6:ffff::1", "name-6")).toMatchObject({ allowed: false, limitedBy: "source" });
    expect(throttle.admit("2001:db8:5:7::1", "name-7").allowed).toBe(true);
  });

  it("slows guessing one user name from many addresses, but not that user's known address", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now });
    expect(throttle.admit(admin, "admin").allowed).toBe(true);
    throttle.succeeded(admin, "admin");
    // Guesses from many addresses, one each: the per-user bucket (5, one spent by admin's first login) empties.
    const guesses = Array.from({ length: 8 }, (_, i) => throttle.admit(`203.0.113.${i + 10}`, i % 2 ? "ADMIN" : "admin"));
    expect(guesses.filter((g) => g.allowed)).toHaveLength(4);
    expect(guesses.at(-1)).toMatchObject({ allowed: false, limitedBy: "user" });
    // A new address with the right password would wait too (the limit is real)…
    expect(throttle.admit("192.0.2.200", "admin")).toMatchObject({ allowed: false, limitedBy: "user" });
    // …but the address admin logged in from before is not blocked.
    for (let i = 0; i < 4; i++) expect(throttle.admit(admin, "Admin").allowed).toBe(true);
    // Its own per-client limit (5, one spent by the first login) still applies.
    expect(throttle.admit(admin, "admin")).toMatchObject({ allowed: false, limitedBy: "source" });
  });

  it("forgets known addresses after their lifetime and keeps only the most recent per user", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now, knownSourceLifetimeMs: 60_000, knownSourcesPerUser: 2, perSource: { capacity: 100, refillIntervalMs: 1000 }, perUser: { capacity: 1, refillIntervalMs: 3_600_000 } });
    for (const address of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) throttle.succeeded(address, "ops");
    expect(throttle.admit("10.9.9.9", "ops").allowed).toBe(true); // spends the user's one token
    expect(throttle.admit("10.0.0.1", "ops").allowed).toBe(false); // pushed out by the two later ones
    expect(throttle.admit("10.0.0.3", "ops").allowed).toBe(true);
    time.advance(60_000);
    expect(throttle.admit("10.0.0.3", "ops").allowed).toBe(false);
  });

  it("keeps its memory bounded", () => {
    const throttle = new LoginThrottle({ now: clock().now, maxKeys: 3 });
    for (let i = 0; i < 10; i++) throttle.succeeded(`10.0.0.${i}`, `user-${i}`);
    // Only the 3 most recent users are remembered: user-0's known address is gone.
    for (let i = 0; i < 5; i++) throttle.admit(`10.1.0.${i}`, "user-0");
    expect(throttle.admit("10.0.0.0", "user-0")).toMatchObject({ allowed: false, limitedBy: "user" });
    for (let i = 0; i < 5; i++) throttle.admit(`10.2.0.${i}`, "user-9");
    expect(throttle.admit("10.0.0.9", "user-9").allowed).toBe(true);
  });
});
