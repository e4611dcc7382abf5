import type { FleetReport } from "@pier/protocol";
import type { FleetReportSinks } from "./fleet-contracts.ts";

/**
 * Hands a validated report to the sinks, in the order the device saw the events (stack
 * transitions, then job runs, then the agent update's end). Resolves once every sink stored its
 * part; a sink that fails rejects it, so the device is not acknowledged and sends it again
 * (sinks take a repeated event as the same event).
 *
 * @example
 * await dispatchFleetReport(fleet.reports, 7, { stacks: [{ stackId: 1, version: 2, type: 7, time: 1733500000 }], jobs: [] });
 */
export async function dispatchFleetReport(sinks: FleetReportSinks, environmentId: number, report: FleetReport): Promise<void> {
  for (const stack of report.stacks) await sinks.stackStatus(environmentId, stack);
  for (const run of report.jobs) await sinks.jobRun(environmentId, run);
  if (report.agentUpdate) await sinks.agentUpdate(environmentId, report.agentUpdate);
}
