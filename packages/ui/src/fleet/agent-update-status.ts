/**
 * Agent update progress (`/api/edge_update_schedules`, docs/fleet.md "Agent updates"): the
 * names, colours and counts of each device's status (names in the UI's language, `fleet` catalog).
 */

import { i18n } from "../i18n/index.ts";

/** A device's status in a schedule, as the server sends it. */
export type AgentUpdateStatus = "pending" | "updated" | "rolled_back" | "failed";

/** The statuses in the order they are shown. */
export const agentUpdateStatuses: readonly AgentUpdateStatus[] = ["pending", "updated", "rolled_back", "failed"];

const labels: Record<AgentUpdateStatus, { key: "pending" | "updated" | "rolledBack" | "failed"; color: string }> = {
  pending: { key: "pending", color: "gray" },
  updated: { key: "updated", color: "green" },
  rolled_back: { key: "rolledBack", color: "orange" },
  failed: { key: "failed", color: "red" },
};

/** A status's name (in the UI's language, at the time of the call) and badge colour; an unknown one is shown as it came, never hidden. */
export function agentUpdateStatusLabel(status: string): { name: string; color: string } {
  const label = (labels as Record<string, (typeof labels)[AgentUpdateStatus] | undefined>)[status];
  if (!label) return { name: i18n.t("fleet:unknownStatus", { status }), color: "gray" };
  return { name: i18n.t(`fleet:agentStatus.${label.key}`), color: label.color };
}

/** How many devices are in each status, in display order, zero counts left out (unknown statuses last). */
export function agentUpdateStatusCounts(statuses: Readonly<Record<string, { status: string }>>): { status: string; name: string; color: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const { status } of Object.values(statuses)) counts.set(status, (counts.get(status) ?? 0) + 1);
  const known = agentUpdateStatuses.filter((status) => counts.has(status));
  const unknown = [...counts.keys()].filter((status) => !(agentUpdateStatuses as readonly string[]).includes(status)).sort();
  return [...known, ...unknown].map((status) => ({ status, ...agentUpdateStatusLabel(status), count: counts.get(status) ?? 0 }));
}

/** The devices' rows of a schedule, by environment id ascending. */
export function agentUpdateRows<T extends { status: string }>(statuses: Readonly<Record<string, T>>): (T & { environmentId: number })[] {
  return Object.entries(statuses)
    .map(([id, entry]) => ({ ...entry, environmentId: Number(id) }))
    .sort((a, b) => a.environmentId - b.environmentId);
}

/** The API's bounds on the deadline (`agentUpdateLimits` on the server). */
export const deadlineBounds = { min: 30, max: 3600, default: 300 } as const;
