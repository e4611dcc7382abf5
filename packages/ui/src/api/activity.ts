/**
 * The activity log (`GET /api/audit`, docs/ui.md "Activity"): a page of entries the server
 * filters and pages, newest first, with `X-Total-Count`; its kinds; and the export as a download.
 */

import { api, request } from "./client.ts";
import { totalOf } from "./environment-list.ts";

/** One entry of the activity log. */
export interface ActivityEntry {
  Id: number;
  At: string;
  Kind: string;
  EnvironmentId: number | null;
  EdgeID: string | null;
  SourceAddress: string | null;
  /** The user who acted; null for device and system events. */
  Actor: string | null;
  Detail: Record<string, unknown>;
  PrevHash: string;
  Hash: string;
}

/** The screen's filters, as typed; empty means "any". `from`/`to` are `datetime-local` values (local time). */
export interface ActivityFilters {
  edgeId: string;
  actor: string;
  kind: string;
  from: string;
  to: string;
}

/** Entries per page. */
export const activityPageSize = 50;
/** The longest EDGE_ID or user name the server takes. */
export const maxActivityFilterLength = 128;

/** A `datetime-local` value as an ISO instant, or undefined when empty or not a date. */
function instant(local: string): string | undefined {
  if (local === "") return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * The filters as query parameters (the list's and the export's).
 *
 * @example
 * activityParameters({ edgeId: "", actor: "admin", kind: "removed", from: "", to: "" }).toString(); // "actor=admin&kind=removed"
 */
export function activityParameters(filters: ActivityFilters): URLSearchParams {
  const parameters = new URLSearchParams();
  const edgeId = filters.edgeId.trim().slice(0, maxActivityFilterLength);
  const actor = filters.actor.trim().slice(0, maxActivityFilterLength);
  if (edgeId !== "") parameters.set("edgeId", edgeId);
  if (actor !== "") parameters.set("actor", actor);
  if (filters.kind !== "") parameters.set("kind", filters.kind);
  const since = instant(filters.from);
  const until = instant(filters.to);
  if (since !== undefined) parameters.set("since", since);
  if (until !== undefined) parameters.set("until", until);
  return parameters;
}

/**
 * Loads one page (1-based) of the entries the filters match.
 *
 * @example
 * const { items, total } = await loadActivityPage(filters, 1, signal);
 */
export async function loadActivityPage(filters: ActivityFilters, page: number, signal: AbortSignal): Promise<{ items: ActivityEntry[]; total: number }> {
  const parameters = activityParameters(filters);
  parameters.set("start", String((Math.max(1, page) - 1) * activityPageSize));
  parameters.set("limit", String(activityPageSize));
  const response = await request("GET", `/api/audit?${parameters.toString()}`, { signal });
  const items = (await response.json()) as ActivityEntry[];
  return { items, total: totalOf(response, items) };
}

/** The kinds recorded so far (the kind filter's options). */
export function loadActivityKinds(signal: AbortSignal): Promise<string[]> {
  return api<string[]>("GET", "/api/audit/kinds", { signal });
}

/**
 * Downloads every entry the filters match (oldest first) as JSON lines or CSV, under the file
 * name the server gives (`pier-activity-<time>.jsonl`).
 *
 * @example
 * await downloadActivity(filters, "jsonl");
 */
export async function downloadActivity(filters: ActivityFilters, format: "jsonl" | "csv"): Promise<void> {
  const parameters = activityParameters(filters);
  parameters.set("format", format);
  const response = await request("GET", `/api/audit/export?${parameters.toString()}`);
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? `pier-activity.${format}`;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}
