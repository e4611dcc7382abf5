import { describe, expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { databaseOutage } from "../src/chaos/scenarios/database-outage.ts";

/**
 * Chaos, database-outage (issue 22), CI's version: two replicas on a PostgreSQL of their own,
 * three zero-touch agents through HAProxy (no Docker engine), PostgreSQL stopped ~11 s. Every
 * check of the scenario holds, and the figures the issue names are within bounds a loaded 2-core
 * machine keeps (docs/chaos.md "database-outage").
 */
describe("chaos: PostgreSQL stopped under replicas", () => {
  it("keeps sessions and heartbeats, refuses writes at once with 503 and Retry-After, catches up by itself, loses nothing", async () => {
    const report = await runChaosScenario(databaseOutage, { short: true, log: () => {} });
    expect(chaosDetails(report)).toEqual([]);
    expect(figureOf(report, "writes refused")).toBeGreaterThan(5);
    // Refused at once (a refused connection), never the pool's 10 s connect timeout.
    expect(figureOf(report, "slowest answer during the outage")).toBeLessThan(5_000);
    expect(figureOf(report, "first write after the return")).toBeLessThan(15_000);
    expect(figureOf(report, "every replica healthy")).toBeLessThan(30_000);
    // What memory held is written by the return's flush; new check-ins within two flush intervals.
    expect(figureOf(report, "outage check-ins written")).toBeLessThan(10_000);
    expect(figureOf(report, "check-ins after the return stored")).toBeLessThan(20_000);
    // The device restarted during the outage dials again when its backoff (at most 60 s) says so.
    expect(figureOf(report, "restarted device back")).toBeLessThan(70_000);
    expect(figureOf(report, "found afterwards")).toBe(figureOf(report, "acknowledged"));
  }, 240_000);
});
