/**
 * What an edge stack's `Status` map says, for people: Portainer's numeric status types
 * (`@pier/protocol` `edgeStackStatusTypes`, repeated here so the bundle does not carry zod) with
 * their names, each device's latest transition, and how many devices are in each state.
 */

import type { EdgeStack, EdgeStackEnvironmentStatus, StackStatusEvent } from "../api/fleet-types.ts";

/** Portainer's status types by number, with the name the UI shows and a colour. */
export const stackStatusTypes: Record<number, { name: string; color: string }> = {
  0: { name: "Pending", color: "gray" },
  1: { name: "Deployment received", color: "blue" },
  2: { name: "Error", color: "red" },
  3: { name: "Acknowledged", color: "blue" },
  4: { name: "Removed", color: "gray" },
  5: { name: "Remote update success", color: "teal" },
  6: { name: "Images pulled", color: "blue" },
  7: { name: "Running", color: "green" },
  8: { name: "Deploying", color: "blue" },
  9: { name: "Removing", color: "orange" },
  10: { name: "Paused deploying", color: "yellow" },
  11: { name: "Paused removing", color: "yellow" },
  12: { name: "Rolling back", color: "orange" },
  13: { name: "Rolled back", color: "orange" },
  14: { name: "Completed", color: "green" },
};

/**
 * The name of a status type; an unknown number is shown as such rather than hidden.
 *
 * @example
 * stackStatusName(7); // "Running"
 */
export function stackStatusName(type: number): string {
  return stackStatusTypes[type]?.name ?? `Unknown status ${type}`;
}

/** The colour of a status type's badge. */
export function stackStatusColor(type: number): string {
  return stackStatusTypes[type]?.color ?? "gray";
}

/** One device's row of a stack's status table. */
export interface DeviceStackStatus {
  environmentId: number;
  /** The latest transition; undefined while the device has reported nothing (pending). */
  latest: StackStatusEvent | undefined;
  /** The errors of every transition, newest first, shown whole. */
  errors: string[];
  /** The version the device's transitions are about, when the server says. */
  version: number | undefined;
  /** After a rollback: the version running again. */
  rolledBackTo: number | undefined;
}

/** The latest of a list of transitions (by time, the later in the list on a tie). */
function latestOf(events: readonly StackStatusEvent[]): StackStatusEvent | undefined {
  let latest: StackStatusEvent | undefined;
  for (const event of events) if (!latest || event.Time >= latest.Time) latest = event;
  return latest;
}

/**
 * One device's status as the table shows it.
 *
 * @example
 * deviceStatus({ EndpointID: 4, Status: [{ Type: 3, Time: 10 }, { Type: 7, Time: 12 }] }).latest?.Type; // 7
 */
export function deviceStatus(status: EdgeStackEnvironmentStatus): DeviceStackStatus {
  const events = Array.isArray(status.Status) ? status.Status : [];
  const errors = events
    .filter((event) => typeof event.Error === "string" && event.Error !== "")
    .sort((a, b) => b.Time - a.Time)
    .map((event) => event.Error as string);
  const rollback = [...events].sort((a, b) => b.Time - a.Time).find((event) => typeof event.RollbackTo === "number");
  const rolledBackTo = rollback?.RollbackTo ?? status.Pier?.RolledBackTo ?? undefined;
  return {
    environmentId: status.EndpointID,
    latest: latestOf(events),
    errors,
    version: status.Pier?.Version ?? status.DeploymentInfo?.Version,
    rolledBackTo: rolledBackTo === null ? undefined : rolledBackTo,
  };
}

/**
 * Every device's status of a stack, ordered by environment id.
 *
 * @example
 * stackDeviceStatuses(stack).map((row) => row.environmentId);
 */
export function stackDeviceStatuses(stack: Pick<EdgeStack, "Status">): DeviceStackStatus[] {
  return Object.entries(stack.Status ?? {})
    .map(([key, status]) => deviceStatus({ ...status, EndpointID: status.EndpointID || Number(key) }))
    .sort((a, b) => a.environmentId - b.environmentId);
}

/** How many devices are in one state. */
export interface StatusCount {
  /** The status type; -1: the device has reported nothing yet. */
  type: number;
  name: string;
  color: string;
  count: number;
}

/**
 * How many devices of a stack are in each state (their latest transition), most advanced state
 * first as the list shows them: running, then errors, then the states in between.
 *
 * @example
 * stackStatusCounts(stack); // [{ type: 7, name: "Running", count: 3, … }, { type: 2, name: "Error", count: 1, … }]
 */
export function stackStatusCounts(stack: Pick<EdgeStack, "Status">): StatusCount[] {
  const counts = new Map<number, number>();
  for (const row of stackDeviceStatuses(stack)) {
    const type = row.latest?.Type ?? -1;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  const order = [7, 14, 2, 13, 12, 8, 6, 3, 1, 0, 9, 4, 5, 10, 11];
  const rank = (type: number) => {
    const index = order.indexOf(type);
    return index === -1 ? order.length : index;
  };
  return [...counts.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a - b)
    .map(([type, count]) => (type === -1 ? { type, name: "No report yet", color: "gray", count } : { type, name: stackStatusName(type), color: stackStatusColor(type), count }));
}
