import { createHash } from "node:crypto";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { EnvironmentPageQuery, EnvironmentSortField, EnvironmentSummary, Settings } from "../../store/store.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { connectedEnvironments } from "../connected-environments.ts";
import { failure, secured } from "../route-helpers.ts";
import { requestScope } from "../request-scope.ts";
import { scopeFilter } from "../../auth/index.ts";
import { endpointSchema, endpointView, type EndpointView } from "../views.ts";

/** The most environments one page holds. */
export const maxEndpointPage = 1000;
/** The longest search text the list takes. */
export const maxEndpointSearch = 200;
/** The longest `tagIds` filter (100 ids of up to 15 digits and their commas). */
const maxTagFilterText = 1_600;

// Portainer's names for `sort` (its `sortKey`), plus Pier's own; `LastCheckInDate` is the field's name.
const sortFields = {
  Id: "id",
  Name: "name",
  EdgeID: "edgeId",
  LastCheckIn: "lastCheckIn",
  LastCheckInDate: "lastCheckIn",
  CreatedAt: "createdAt",
} as const satisfies Record<string, EnvironmentSortField>;
const sortNames = Object.keys(sortFields) as [keyof typeof sortFields, ...(keyof typeof sortFields)[]];

const flag = z.enum(["true", "false"]);

/** `GET /api/endpoints`'s query: Portainer's parameters and names, and Pier's `waitingRoom`. */
export const endpointListQuery = z.object({
  start: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: "Environments to skip (default 0)" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(maxEndpointPage, `at most ${maxEndpointPage} environments per page`)
    .optional()
    .openapi({ description: `Environments to return, 1 to ${maxEndpointPage}; absent: all of them (from start)` }),
  search: z
    .string()
    .max(maxEndpointSearch, `at most ${maxEndpointSearch} characters`)
    .optional()
    .openapi({ description: "Case-insensitive part of the name, EDGE_ID or source address" }),
  sort: z
    .enum(sortNames, { error: `must be one of ${sortNames.join(", ")}` })
    .optional()
    .openapi({ description: "Sort key (default Id); ties are ordered by Id. Name sorts case-insensitively; LastCheckIn (or LastCheckInDate) the stored check-in, never seen first" }),
  order: z.enum(["asc", "desc"], { error: "must be asc or desc" }).optional().openapi({ description: "Default asc" }),
  edgeDeviceUntrusted: flag.optional().openapi({ description: "true: only environments in the waiting room (not trusted); false: only trusted ones" }),
  waitingRoom: flag
    .optional()
    .openapi({ description: "Pier: true lists the Waiting Room (untrusted devices that checked in, with an EDGE_ID); false everything else (the Home list, including environments no device has used yet)" }),
  tagIds: z
    .string()
    .max(maxTagFilterText)
    .regex(/^\d{1,15}(,\d{1,15}){0,99}$/, "must be up to 100 comma-separated tag ids")
    .optional()
    .openapi({ description: "Pier: only environments carrying every one of these tags (comma-separated ids, at most 100)", example: "1,2" }),
  edgeGroupId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: "Pier: only the members of this edge group (associated environments)" }),
  status: z
    .enum(["1", "2"], { error: "must be 1 (up) or 2 (down)" })
    .optional()
    .openapi({ description: "1: environments whose stored check-in is within the heartbeat rule (up), 2: the others (down)" }),
});

type EndpointListQuery = z.infer<typeof endpointListQuery>;

/** Maps the API's query to the store's. */
export function environmentPageQuery(query: EndpointListQuery, settings: Settings, now: Date): EnvironmentPageQuery {
  return {
    ...(query.edgeDeviceUntrusted === undefined ? {} : { untrusted: query.edgeDeviceUntrusted === "true" }),
    ...(query.waitingRoom === undefined ? {} : { waiting: query.waitingRoom === "true" }),
    ...(query.search === undefined || query.search === "" ? {} : { search: query.search }),
    ...(query.tagIds === undefined ? {} : { tagIds: query.tagIds.split(",").map(Number) }),
    ...(query.edgeGroupId === undefined ? {} : { edgeGroupId: query.edgeGroupId }),
    ...(query.status === undefined ? {} : { heartbeat: { alive: query.status === "1", now, defaultIntervalSeconds: settings.edgeAgentCheckinInterval } }),
    ...(query.sort === undefined ? {} : { sort: sortFields[query.sort] }),
    ...(query.order === undefined ? {} : { order: query.order }),
    ...(query.start === undefined ? {} : { start: query.start }),
    ...(query.limit === undefined ? {} : { limit: query.limit }),
  };
}

/**
 * `GET /api/endpoints`: one page of environments (Portainer's `start`, `limit`, `search`, `sort`,
 * `order`, `edgeDeviceUntrusted`, `status`), with `X-Total-Count` saying how many match. Each
 * entry carries its Docker summary, read with the page in one query, never the full snapshot.
 */
export function registerEndpointListRoute(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store, edge } = deps;

  function listView(summary: EnvironmentSummary, settings: Settings, now: number, connected: ReadonlySet<number>, fleet: { tags: ReadonlyMap<number, number[]>; requests: ReadonlyMap<number, string[]> }): EndpointView {
    return endpointView(
      summary,
      settings,
      {
        lastCheckIn: deps.lastCheckIn(summary.id, summary.lastCheckInAt),
        connected: connected.has(summary.id),
        clone: edge.cloneOf(summary),
        docker: summary.docker,
        dockerState: edge.dockerStateOf(summary.id),
        clockSkew: edge.clockSkewOf(summary.id),
        certificates: summary.newestCertificate === null ? [] : [summary.newestCertificate],
        ...(summary.clientCertificate === null ? {} : { sharedBy: summary.clientCertificateSharedBy }),
        tagIds: fleet.tags.get(summary.id) ?? [],
        requestedEdgeGroups: fleet.requests.get(summary.id) ?? [],
      },
      now,
    );
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/endpoints",
      summary: "List environments, a page at a time (start, limit), searched and sorted; edgeDeviceUntrusted=true lists the untrusted ones. X-Total-Count: how many match",
      description:
        "Without limit, every matching environment (from start). Each entry has its Docker summary (Snapshots), never the full snapshot: GET /api/endpoints/{id}/docker-snapshot has that.",
      security: secured,
      request: { query: endpointListQuery },
      responses: {
        200: {
          content: { "application/json": { schema: z.array(endpointSchema) } },
          headers: z.object({ "X-Total-Count": z.string().openapi({ description: "How many environments match the filters (whatever start and limit)", example: "10000" }) }),
          description: "The page",
        },
        304: notModified,
        400: failure(`limit outside 1 to ${maxEndpointPage}, start below 0, search over ${maxEndpointSearch} characters, or an unknown sort, order or status`),
      },
    }),
    async (c) => {
      const settings = await store.settings.get();
      const now = new Date();
      // Filtered in the page's query: the total counts only what the caller may see.
      const page = await store.environments.page({ ...environmentPageQuery(c.req.valid("query"), settings, now), ...scopeFilter(await requestScope(c, deps)) });
      c.header("X-Total-Count", String(page.total));
      const ids = page.items.map((summary) => summary.id);
      const connected = await connectedEnvironments(deps, ids);
      const fleet = { tags: await store.tags.tagsOf(ids), requests: await store.edgeGroups.requestsOf(ids) };
      return conditionalJson(c, page.items.map((summary) => listView(summary, settings, now.getTime(), connected, fleet)), String(page.total));
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/endpoints/counts",
      summary: "Pier: how many environments there are by status — on Home (online and offline by the stored check-in) and in the Waiting Room",
      security: secured,
      responses: {
        200: { content: { "application/json": { schema: endpointCountsSchema } }, description: "The counts" },
        304: notModified,
      },
    }),
    async (c) => {
      const settings = await store.settings.get();
      const heartbeat = (alive: boolean) => ({ alive, now: new Date(), defaultIntervalSeconds: settings.edgeAgentCheckinInterval });
      const scope = scopeFilter(await requestScope(c, deps));
      const count = async (query: EnvironmentPageQuery) => (await store.environments.page({ ...query, ...scope, limit: 0 })).total;
      const [online, offline, waiting] = await Promise.all([count({ waiting: false, heartbeat: heartbeat(true) }), count({ waiting: false, heartbeat: heartbeat(false) }), count({ waiting: true })]);
      return conditionalJson(c, { Environments: online + offline, Online: online, Offline: offline, Waiting: waiting }, "");
    },
  );
}

const notModified = { description: "Not modified: If-None-Match names the current ETag" };

const endpointCountsSchema = z
  .object({
    Environments: z.number().int().openapi({ description: "On Home: every environment but the devices waiting in the Waiting Room" }),
    Online: z.number().int().openapi({ description: "Of those, checked in within the heartbeat rule" }),
    Offline: z.number().int(),
    Waiting: z.number().int().openapi({ description: "Devices waiting in the Waiting Room" }),
  })
  .openapi("EndpointCounts");

/**
 * Answers `value` as JSON with an `ETag` (SHA-256 of the body and `validator`, what else the
 * answer's headers say, e.g. the total), or `304 Not Modified` when the browser's
 * `If-None-Match` names it: a list polled every few seconds costs no body while it is unchanged.
 * `Cache-Control: private, no-cache` makes the browser ask every time and keep it to itself.
 */
function conditionalJson<T>(c: Context<ApiEnv>, value: T, validator: string) {
  const body = JSON.stringify(value);
  const tag = `"${createHash("sha256").update(validator).update("\n").update(body).digest("base64url").slice(0, 27)}"`;
  c.header("ETag", tag);
  c.header("Cache-Control", "private, no-cache");
  const asked = c.req.header("If-None-Match");
  if (asked !== undefined && asked.split(",").some((candidate) => candidate.trim().replace(/^W\//, "") === tag)) return c.body(null, 304);
  return c.json(value, 200);
}
