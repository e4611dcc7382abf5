import { describe, expect, it } from "vitest";
import { chaosDetails, figureOf, runChaosScenario } from "../src/chaos/index.ts";
import { partitionScenario } from "../src/chaos/scenarios/partition.ts";

/**
 * Issue 22, "Partition", CI's version: one real `pier agent` in a network namespace of its own
 * (chaos/network-host.ts), check-in interval 1 s; its link cut for 24 s (past the 22 s heartbeat
 * rule) while an edge stack is created for it, then 12 s of 30 % loss and 500 ms delay each way.
 * Serial: the stack runs on the main Docker engine. docs/chaos.md "partition".
 */
describe("chaos: partition", () => {
  it("goes red within the heartbeat rule, green within two intervals of the link, runs the stack made meanwhile, and never hangs a Docker request", async () => {
    const report = await runChaosScenario(partitionScenario, { short: true, log: () => {} });
    expect(chaosDetails(report)).toEqual([]);
    // Interval 1 s: red at 2 × 1 + 20 = 22 s after the last check-in, seen by a 200 ms poll.
    expect(figureOf(report, "detect")).toBeGreaterThanOrEqual(20_000);
    expect(figureOf(report, "detect")).toBeLessThanOrEqual(25_000);
    // Two intervals, and a second for the poll and a loaded machine.
    expect(figureOf(report, "recover")).toBeLessThanOrEqual(3_000);
    // The stack is deployed once the session is back: a pull-free busybox start.
    expect(figureOf(report, "converge")).toBeLessThan(60_000);
    // A tunnel opens within 5 s or the request fails with 503; a silent session is ended after
    // 3 × 1 s + 10 s (seen by a sweep each second) with its tunnels; 4 s for a loaded machine.
    expect(figureOf(report, "slowest tunnel answer")).toBeLessThanOrEqual(23_000);
  }, 240_000);
});
