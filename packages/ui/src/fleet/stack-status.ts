/**
 * What an edge stack's `Status` map says, for people: Portainer's numeric status types
 * (`@pier/protocol` `edgeStackStatusTypes`, repeated here so the bundle does not carry zod) with
 * their names (in the UI's language), each device's latest transition, and how many devices are in each state.
 */

import type { EdgeStack, EdgeStackEnvironmentStatus, StackStatusEvent } from "../api/fleet-types.ts";
import { i18n } from "../i18n/index.ts";

/** A status type's key in the `fleet` catalog's `stackStatus`. */
type StackStatusKey = "pending" | "deploymentReceived" | "error" | "acknowledged" | "removed" | "remoteUpdateSuccess" | "imagesPulled" | "running" | "deploying" | "removing" | "pausedDeploying" | "pausedRemoving" | "rollingBack" | "rolledBack" | "completed";

/** Portainer's status types by number, with the key of the name the UI shows and a colour. */
export const stackStatusTypes: Record<number, { key: StackStatusKey; color: string }> = {
  0: { key: "pending", color: "gray" },
  1: { key: "deploymentReceived", color: "blue" },
  2: { key: "error", color: "red" },
  3: { key: "acknowledged", color: "blue" },
  4: { key: "removed", color: "gray" },
  5: { key: "remoteUpdateSuccess", color: "teal" },
  6: { key: "imagesPulled", color: "blue" },
  7: { key: "running", color: "green" },
  8: { key: "deploying", color: "blue" },
  9: { key: "removing", color: "orange" },
  10: { key: "pausedDeploying", color: "yellow" },
  11: { key: "pausedRemoving", color: "yellow" },
  12: { key: "rollingBack", color: "orange" },
  13: { key: "rolledBack", color: "orange" },
  14: { key: "completed", color: "green" },
};

/**
 * The name of a status type, in the UI's language; an unknown number is shown as such rather than hidden.
 *
 * @example
 * stackStatusName(7); // "Running"
 */
export function stackStatusName(type: number): string {
  const status = stackStatusTypes[type];
  return status ? i18n.t(`fleet:stackStatus.${status.key}`) : i18n.t("fleet:unknownStatus", { status: type });
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
    .map(([type, count]) => (type === -1 ? { type, name: i18n.t("fleet:stackStatus.noReport"), color: "gray", count } : { type, name: stackStatusName(type), color: stackStatusColor(type), count }));
}
