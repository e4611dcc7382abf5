import { describe, expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { diskFull } from "../src/chaos/scenarios/disk-full.ts";

/**
 * Issue 22, "Disk full", CI's version: the server's data directory on a 16 MiB tmpfs, then a
 * real agent's --data on a 2 MiB one, each filled to the last byte with a ballast file and freed
 * (root: `mount -t tmpfs`). Parallel: no Docker engine port or swarm (the agents report Docker
 * as they find it), no certificate timed against the CPU (the renewal is asked for through the
 * API). docs/chaos.md "disk-full".
 */
describe("chaos: disk-full", () => {
  it("serves reads and keeps sessions while refusing writes with 507 naming the disk, corrupts nothing, and recovers by itself (server and agent)", async () => {
    const report = await runChaosScenario(diskFull, { short: true, log: () => {} });
    expect(chaosDetails(report)).toEqual([]);
    expect(figureOf(report, "writes refused")).toBeGreaterThan(0);
    expect(figureOf(report, "found after")).toBe(figureOf(report, "writes acknowledged"));
    // Without a restart: the first write after the ballast went took a few hundred ms at most on a loaded 2-core machine.
    expect(figureOf(report, "recover")).toBeLessThan(10_000);
    expect(figureOf(report, "agent renewals refused")).toBeGreaterThan(0);
    // The agent's backoff after one or two refused renewals: up to 1 + 2 + 4 s, plus a renewal.
    expect(figureOf(report, "agent recover")).toBeLessThan(30_000);
  }, 180_000);
});
