import { describe, expect, it } from "vitest";
import { CloneDetector, cloneRule } from "./clone-detector.ts";

const a = "198.51.100.7";
const b = "203.0.113.9";
const t0 = Date.parse("2026-01-02T03:04:05Z");

describe("clone detection", () => {
  it("does not flag a device whose address changed once, or twice within the window", () => {
    const clones = new CloneDetector();
    expect(clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0)).toEqual({ persist: false, audit: false });
    expect(clones.replaced(1, { replaced: b, by: a, replacedWasHealthy: true }, t0 + 60_000)).toEqual({ persist: false, audit: false });
    expect(clones.current(1, t0 + 60_000)).toBeUndefined();
  });

  it("flags the third replacement of a live session from another address within the window, with both addresses, audited once", () => {
    const clones = new CloneDetector();
    clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0);
    clones.replaced(1, { replaced: b, by: a, replacedWasHealthy: true }, t0 + 1_000);
    const third = clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0 + 3_000);
    expect(third).toEqual({ clone: { addresses: [a, b], firstSeen: new Date(t0), lastSeen: new Date(t0 + 3_000) }, persist: true, audit: true });
    // The same episode goes on: no second audit, lastSeen moves in memory, written once a minute at most.
    const fourth = clones.replaced(1, { replaced: b, by: a, replacedWasHealthy: true }, t0 + 7_000);
    expect(fourth).toMatchObject({ persist: false, audit: false, clone: { firstSeen: new Date(t0), lastSeen: new Date(t0 + 7_000) } });
    expect(clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0 + 3_000 + cloneRule.persistEveryMs)).toMatchObject({ persist: true, audit: false });
    expect(clones.current(1, t0 + 10_000)?.addresses.sort()).toEqual([a, b].sort());
    expect(clones.current(2, t0 + 10_000)).toBeUndefined();
  });

  it("ignores replacements of dead sessions and from the same address", () => {
    const clones = new CloneDetector();
    for (let i = 0; i < 10; i++) {
      expect(clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: false }, t0 + i * 1000).audit).toBe(false);
      expect(clones.replaced(1, { replaced: a, by: a, replacedWasHealthy: true }, t0 + i * 1000 + 500).audit).toBe(false);
    }
    expect(clones.current(1, t0 + 10_000)).toBeUndefined();
  });

  it("forgets replacements older than the window, and audits a new episode after a quiet window", () => {
    const clones = new CloneDetector();
    clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0);
    clones.replaced(1, { replaced: b, by: a, replacedWasHealthy: true }, t0 + cloneRule.windowMs / 2);
    expect(clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, t0 + cloneRule.windowMs + 1).audit).toBe(false);

    const later = t0 + 5 * cloneRule.windowMs;
    for (let i = 0; i < 3; i++) clones.replaced(1, { replaced: a, by: b, replacedWasHealthy: true }, later + i);
    expect(clones.current(1, later + 2)).toBeDefined();
    expect(clones.current(1, later + 2 + cloneRule.windowMs + 1)).toBeUndefined();
    expect(clones.latest(1)).toBeDefined();
    const again = t0 + 10 * cloneRule.windowMs;
    const decisions = [0, 1, 2].map((i) => clones.replaced(1, { replaced: b, by: "192.0.2.4", replacedWasHealthy: true }, again + i));
    expect(decisions.map((d) => d.audit)).toEqual([false, false, true]);
  });

  it("keeps a bounded list of addresses", () => {
    const clones = new CloneDetector();
    for (let i = 0; i < 40; i++) clones.replaced(1, { replaced: `192.0.2.${i}`, by: `192.0.2.${i + 1}`, replacedWasHealthy: true }, t0 + i);
    expect(clones.current(1, t0 + 40)?.addresses).toHaveLength(cloneRule.maxAddresses);
    expect(clones.current(1, t0 + 40)?.addresses.at(-1)).toBe("192.0.2.40");
  });
});
