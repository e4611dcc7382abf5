import { describe, expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { clockSkewScenario } from "../src/chaos/scenarios/clock-skew.ts";

/**
 * Issue 22, "Clock skew", CI's version: two real `pier agent` processes under Debian's
 * `faketime`, 5 h behind and 5 h ahead of a built-in-CA server whose device certificates live
 * 30 s. Both ends name the skew with its amount, the API shows it, and each device stays
 * connected and renews on the server's time. Parallel: no Docker engine port, no swarm; the
 * certificate timing has 10 s of slack per lifetime. docs/chaos.md "clock-skew".
 */
describe("chaos: clock-skew", () => {
  it("names the skew on both ends with its amount, shows it on the device's page, and keeps the skewed devices connected and renewing", async () => {
    const report = await runChaosScenario(clockSkewScenario, { short: true, log: () => {} });
    expect(chaosDetails(report)).toEqual([]);
    for (const [label, produced] of [["behind", -18_000], ["ahead", 18_000]] as const) {
      // The agent's words are rounded to the minute; the API's figure to the second (latency aside).
      expect(figureOf(report, `${label}: agent says`)).toBe(produced);
      expect(Math.abs(figureOf(report, `${label}: API shows`) - produced)).toBeLessThanOrEqual(30);
      // Diagnosed at the first answer: the agent from the session's Date header, the server from the hello.
      expect(figureOf(report, `${label}: agent diagnoses in`)).toBeLessThan(45_000);
      expect(figureOf(report, `${label}: API shows in`)).toBeLessThan(45_000);
      expect(figureOf(report, `${label}: renewals`)).toBeGreaterThanOrEqual(1);
    }
  }, 180_000);
});
