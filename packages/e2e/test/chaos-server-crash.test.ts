import { expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { serverCrash } from "../src/chaos/scenarios/server-crash.ts";

/**
 * CI's `server-crash` (docs/chaos.md): 200 simulated agents on a SQLite `pier server`, writes in
 * flight through the API (associations, edge stack versions, tags, their audit entries), kill -9,
 * the store, audit chain and CA checked as the crash left them, a restart on the same data and
 * ports. Every check must hold; the figures the issue names are read as well.
 */
it("kill -9 under a fleet with writes in flight loses nothing acknowledged, and every agent is back within two check-in intervals", async () => {
  const report = await runChaosScenario(serverCrash, { short: true, log: () => {} });
  expect(chaosDetails(report)).toEqual([]);
  const acknowledged = figureOf(report, "acknowledged");
  // Writes of every kind were acknowledged (a check) and all of them are found again.
  expect(acknowledged).toBeGreaterThan(0);
  expect(figureOf(report, "found")).toBe(acknowledged);
  // Two check-in intervals of 5 s after the restarted server accepted (the check says the same).
  expect(figureOf(report, "all back")).toBeLessThanOrEqual(10_000);
  expect(figureOf(report, "back p50")).toBeLessThanOrEqual(figureOf(report, "back p99"));
}, 240_000);
