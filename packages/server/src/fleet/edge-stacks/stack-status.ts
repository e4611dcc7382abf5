import { type StackReport, edgeStackStatusTypes } from "@pier/protocol";
import type { EdgeStackStatusRecord } from "../../store/edge-stacks.ts";

/** Transitions kept per (stack, environment) and version: the oldest go first (a device retrying a failing pull for days). */
export const maxTransitionsPerStatus = 50;

/** What to do with a device's stack report. */
export type StatusDecision = { action: "put"; row: EdgeStackStatusRecord } | { action: "delete" } | { action: "ignore"; reason: string };

/**
 * Decides how a report changes the environment's status row (docs/fleet.md "Edge stacks"):
 * - a report about an older version than the row's is ignored (a late report from before an update);
 * - a newer version starts a new list; the same version appends (at most `maxTransitionsPerStatus`);
 * - RolledBack records `rolledBackTo`;
 * - Removed of a stack that was deleted, or whose groups the environment left, deletes the row;
 * - a report about a stack that does not exist and has no row is ignored, as is one about a
 *   version the stack never had.
 *
 * @example
 * nextStatus({ environmentId: 7, report: { stackId: 1, version: 2, type: 7, time: 1700000000 }, existing: null, stack: { version: 2, targetsEnvironment: true }, at: new Date() });
 * // { action: "put", row: { stackId: 1, environmentId: 7, version: 2, transitions: [{ type: 7, time: 1700000000 }], rolledBackTo: null, … } }
 */
export function nextStatus(input: {
  environmentId: number;
  report: StackReport;
  existing: EdgeStackStatusRecord | null;
  /** The stack now, `null` once deleted; `targetsEnvironment`: the environment is in one of its groups. */
  stack: { version: number; targetsEnvironment: boolean } | null;
  at: Date;
}): StatusDecision {
  const { report, existing, stack } = input;
  if (existing !== null && report.version < existing.version) return { action: "ignore", reason: `version ${report.version} is older than the reported ${existing.version}` };
  if (stack === null && existing === null) return { action: "ignore", reason: "no such stack" };
  if (stack !== null && report.version > stack.version) return { action: "ignore", reason: `version ${report.version} was never made (latest ${stack.version})` };
  if (report.type === edgeStackStatusTypes.removed && (stack === null || !stack.targetsEnvironment)) return existing === null ? { action: "ignore", reason: "removed, no row" } : { action: "delete" };
  const transition = { type: report.type, time: report.time, ...(report.error ? { error: report.error } : {}), ...(report.rolledBackTo === undefined ? {} : { rollbackTo: report.rolledBackTo }) };
  const sameVersion = existing !== null && existing.version === report.version;
  const transitions = [...(sameVersion ? existing.transitions : []), transition].slice(-maxTransitionsPerStatus);
  const rolledBackTo = report.type === edgeStackStatusTypes.rolledBack ? (report.rolledBackTo ?? null) : sameVersion ? existing.rolledBackTo : null;
  return { action: "put", row: { stackId: report.stackId, environmentId: input.environmentId, version: report.version, transitions, rolledBackTo, updatedAt: input.at } };
}

/** One environment's entry of an edge stack's `Status` map, in Portainer's shape (`portainer.EdgeStackStatus`). */
export interface PortainerEdgeStackStatus {
  EndpointID: number;
  Status: { Type: number; Time: number; Error: string; RollbackTo?: number }[];
  DeploymentInfo: { Version: number; FileVersion: number; ConfigHash: string };
  ReadyRePullImage: boolean;
}

/**
 * The `Status` map of an edge stack as Portainer answers it: keyed by environment id (a string
 * in JSON), each with the transitions of the version it runs or moves to, oldest first.
 *
 * @example
 * statusMap([row]); // { "7": { EndpointID: 7, Status: [{ Type: 7, Time: 1700000000, Error: "" }], DeploymentInfo: { Version: 2, FileVersion: 2, ConfigHash: "" }, ReadyRePullImage: false } }
 */
export function statusMap(rows: readonly EdgeStackStatusRecord[]): Record<string, PortainerEdgeStackStatus> {
  const map: Record<string, PortainerEdgeStackStatus> = {};
  for (const row of rows) {
    map[String(row.environmentId)] = {
      EndpointID: row.environmentId,
      Status: row.transitions.map((t) => ({ Type: t.type, Time: t.time, Error: t.error ?? "", ...(t.rollbackTo === undefined ? {} : { RollbackTo: t.rollbackTo }) })),
      DeploymentInfo: { Version: row.version, FileVersion: row.version, ConfigHash: "" },
      ReadyRePullImage: false,
    };
  }
  return map;
}
