/**
 * One page of `GET /api/endpoints` (docs/ui.md, "Lists"): the server pages, searches and sorts,
 * and says in `X-Total-Count` how many environments match.
 */

import { request } from "./client.ts";
import type { Endpoint } from "./types.ts";

/** The page sizes the lists offer. */
export const pageSizes = [10, 25, 50, 100] as const;
export type PageSize = (typeof pageSizes)[number];

/** The columns the server sorts by (its `sort` names). */
export type EnvironmentSort = "Name" | "EdgeID" | "LastCheckIn" | "CreatedAt" | "Id";

/** The longest search the server takes. */
export const maxSearchLength = 200;

/** What a list asks for. */
export interface EnvironmentListQuery {
  /** Which list: the Home list (everything but waiting devices) or the Waiting Room. */
  list: "home" | "waiting-room";
  search: string;
  sort: EnvironmentSort;
  order: "asc" | "desc";
  /** 1-based. */
  page: number;
  pageSize: PageSize;
  /** Home's filter by heartbeat. */
  status?: "online" | "offline";
  /** Home's filter by tags: environments carrying every one of them. */
  tagIds?: readonly number[];
  /** Home's filter by edge group: its members. */
  edgeGroupId?: number;
}

/** A page and how many environments match in all. */
export interface EnvironmentListPage {
  items: Endpoint[];
  total: number;
}

/**
 * The request path of a list query.
 *
 * @example
 * environmentListPath({ list: "home", search: "", sort: "Name", order: "asc", page: 2, pageSize: 25 });
 * // "/api/endpoints?waitingRoom=false&start=25&limit=25&sort=Name&order=asc"
 */
export function environmentListPath(query: EnvironmentListQuery): string {
  const parameters = new URLSearchParams({
    waitingRoom: String(query.list === "waiting-room"),
    start: String((Math.max(1, query.page) - 1) * query.pageSize),
    limit: String(query.pageSize),
    sort: query.sort,
    order: query.order,
  });
  const search = query.search.trim().slice(0, maxSearchLength);
  if (search !== "") parameters.set("search", search);
  if (query.status !== undefined) parameters.set("status", query.status === "online" ? "1" : "2");
  if (query.tagIds && query.tagIds.length > 0) parameters.set("tagIds", query.tagIds.join(","));
  if (query.edgeGroupId !== undefined) parameters.set("edgeGroupId", String(query.edgeGroupId));
  return `/api/endpoints?${parameters.toString()}`;
}

/** Reads `X-Total-Count`; a server that does not send it (an old one) pages by what it answered. */
export function totalOf(response: Response, items: readonly unknown[]): number {
  const header = response.headers.get("X-Total-Count");
  const total = header === null ? Number.NaN : Number(header);
  return Number.isSafeInteger(total) && total >= 0 ? total : items.length;
}

/**
 * Loads one page of environments.
 *
 * @example
 * const { items, total } = await loadEnvironmentPage(query, signal);
 */
export async function loadEnvironmentPage(query: EnvironmentListQuery, signal: AbortSignal): Promise<EnvironmentListPage> {
  const response = await request("GET", environmentListPath(query), { signal });
  const items = (await response.json()) as Endpoint[];
  return { items, total: totalOf(response, items) };
}

/** The most environments "Select all matching" takes: ten pages of the API's largest. */
export const maxSelectAll = 10_000;

/**
 * Every environment matching a list's filters (search, status, tags, group), across pages, 1,000
 * per request, at most `maxSelectAll`: what "Select all N matching" selects.
 *
 * @example
 * const all = await loadAllMatching(query, signal); // all.length === total (≤ 10,000)
 */
export async function loadAllMatching(query: EnvironmentListQuery, signal: AbortSignal): Promise<Endpoint[]> {
  const all: Endpoint[] = [];
  for (let page = 1; all.length < maxSelectAll; page += 1) {
    const { items, total } = await loadEnvironmentPage({ ...query, page, pageSize: 1000 as PageSize }, signal);
    all.push(...items);
    if (items.length === 0 || all.length >= total) break;
  }
  return all.slice(0, maxSelectAll);
}
