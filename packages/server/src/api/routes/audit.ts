import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { ServerError } from "../../errors.ts";
import { maxAuditPage } from "../../store/audit.ts";
import type { AuditEvent, AuditQuery } from "../../store/store.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, jsonAnswer, secured } from "../route-helpers.ts";

/** The longest EDGE_ID, user name or kind the filters take. */
export const auditFilterLimits = { edgeId: 128, actor: 128, kind: 64, date: 40 } as const;

const isoDate = (what: string) =>
  z
    .string()
    .max(auditFilterLimits.date, `at most ${auditFilterLimits.date} characters`)
    .refine((value) => /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)), "must be an ISO 8601 date such as 2026-12-07T10:00:00Z")
    .optional()
    .openapi({ description: what, example: "2026-12-07T10:00:00Z" });

/** The activity log's filters, shared by the list and the export. */
const filterQuery = z.object({
  environmentId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: "Only this environment's entries" }),
  edgeId: z.string().min(1).max(auditFilterLimits.edgeId, `at most ${auditFilterLimits.edgeId} characters`).optional().openapi({ description: "Only entries about this EDGE_ID (exact)" }),
  actor: z.string().min(1).max(auditFilterLimits.actor, `at most ${auditFilterLimits.actor} characters`).optional().openapi({ description: "Only what this user did (user name, exact)" }),
  kind: z
    .string()
    .max(auditFilterLimits.kind, `at most ${auditFilterLimits.kind} characters`)
    .regex(/^[a-z0-9_]+$/, "must be lowercase letters, digits and _ (a kind such as removed)")
    .optional()
    .openapi({ description: "Only entries of this kind (GET /api/audit/kinds lists them)" }),
  since: isoDate("Only entries at or after this time"),
  until: isoDate("Only entries at or before this time"),
});

const listQuery = filterQuery.extend({
  start: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).openapi({ description: "Entries to skip" }),
  limit: z.coerce.number().int().min(1).max(maxAuditPage, `at most ${maxAuditPage} entries per page`).default(100).openapi({ description: `Entries to return, 1 to ${maxAuditPage}` }),
});

const exportQuery = filterQuery.extend({
  format: z.enum(["jsonl", "csv"], { error: "must be jsonl or csv" }).openapi({ description: "jsonl: one JSON object per line (what `pier audit verify --file` checks); csv: a header and one row per entry" }),
});

function storeQuery(query: z.infer<typeof filterQuery>): AuditQuery {
  const filter: AuditQuery = {
    ...(query.environmentId === undefined ? {} : { environmentId: query.environmentId }),
    ...(query.edgeId === undefined ? {} : { edgeId: query.edgeId }),
    ...(query.actor === undefined ? {} : { actor: query.actor }),
    ...(query.kind === undefined ? {} : { kind: query.kind }),
    ...(query.since === undefined ? {} : { since: new Date(query.since) }),
    ...(query.until === undefined ? {} : { until: new Date(query.until) }),
  };
  if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) {
    throw new ServerError("bad_request", "since is after until: no entry can match.", { field: "since", fix: "Give a since at or before until." });
  }
  return filter;
}

const entrySchema = z
  .object({
    Id: z.number().int(),
    At: z.string(),
    Kind: z.string(),
    EnvironmentId: z.number().int().nullable(),
    EdgeID: z.string().nullable(),
    SourceAddress: z.string().nullable(),
    Actor: z.string().nullable().openapi({ description: "The user who acted; null for device and system events" }),
    Detail: z.record(z.string(), z.unknown()),
    PrevHash: z.string().openapi({ description: "The hash of the entry before (64 zeros for the first)" }),
    Hash: z.string().openapi({ description: "SHA-256 of PrevHash and this entry (docs/security.md, Activity log: hash chain)" }),
  })
  .openapi("ActivityEntry");

const entryView = (event: AuditEvent): z.infer<typeof entrySchema> => ({
  Id: event.id,
  At: event.at.toISOString(),
  Kind: event.kind,
  EnvironmentId: event.environmentId,
  EdgeID: event.edgeId,
  SourceAddress: event.sourceAddress,
  Actor: event.actor,
  Detail: event.detail,
  PrevHash: event.prevHash,
  Hash: event.hash,
});

/** One export line's fields, in the order `pier audit verify --file` reads them. */
const exportLine = (event: AuditEvent) => ({
  id: event.id,
  at: event.at.toISOString(),
  kind: event.kind,
  environmentId: event.environmentId,
  edgeId: event.edgeId,
  sourceAddress: event.sourceAddress,
  actor: event.actor,
  detail: event.detail,
  prevHash: event.prevHash,
  hash: event.hash,
});

const csvColumns = ["id", "at", "kind", "environmentId", "edgeId", "sourceAddress", "actor", "detail", "prevHash", "hash"] as const;

/**
 * One CSV cell (RFC 4180 quoting). A cell a spreadsheet would run as a formula (=, +, -, @, tab,
 * CR first: an EDGE_ID is chosen by the device) gets a leading apostrophe (OWASP "CSV injection").
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? "" : typeof value === "string" ? value : typeof value === "number" ? String(value) : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvRow(event: AuditEvent): string {
  const line = exportLine(event);
  return csvColumns.map((column) => csvCell(line[column])).join(",");
}

/** The entries as a byte stream, read from the store a batch at a time while the client reads. */
function exportStream(batches: AsyncIterable<AuditEvent[]>, format: "jsonl" | "csv"): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = batches[Symbol.asyncIterator]();
  let header = format === "csv";
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (header) {
        header = false;
        controller.enqueue(encoder.encode(`${csvColumns.join(",")}\r\n`));
        return;
      }
      const next = await iterator.next();
      if (next.done === true) {
        controller.close();
        return;
      }
      const text = next.value.map((event) => (format === "csv" ? `${csvRow(event)}\r\n` : `${JSON.stringify(exportLine(event))}\n`)).join("");
      controller.enqueue(encoder.encode(text));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/**
 * Who may read the activity log: `secured` here (a signed-in caller), refined to administrators
 * by `auth/route-permissions.ts`, which lists these routes as `administer`.
 */
const auditAccess = secured;

/**
 * `GET /api/audit` (a page of the activity log, newest first, `X-Total-Count`),
 * `GET /api/audit/kinds` and `GET /api/audit/export` (every matching entry in chain order, JSON
 * lines or CSV, as a download). docs/security.md "Activity log: hash chain".
 */
export function registerAuditRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/audit",
      summary: "The activity log, newest first, filtered (environmentId, edgeId, actor, kind, since, until) and paged (start, limit). X-Total-Count: how many match",
      security: auditAccess,
      request: { query: listQuery },
      responses: {
        200: {
          content: { "application/json": { schema: z.array(entrySchema) } },
          headers: z.object({ "X-Total-Count": z.string().openapi({ description: "How many entries match the filters" }) }),
          description: "The page",
        },
        400: failure(`limit outside 1 to ${maxAuditPage}, a filter too long, a malformed date or kind, or since after until`),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await store.audit.page({ ...storeQuery(query), start: query.start, limit: query.limit });
      c.header("X-Total-Count", String(page.total));
      return c.json(page.items.map(entryView), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/audit/kinds",
      summary: "The kinds of entry recorded so far, sorted (the Activity screen's kind filter)",
      security: auditAccess,
      responses: { 200: jsonAnswer(z.array(z.string()), "The kinds") },
    }),
    async (c) => c.json(await store.audit.kinds(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/audit/export",
      summary: "Every entry the filters match, oldest first (chain order), as a JSON lines or CSV download; `pier audit verify --file` checks a JSON lines export",
      security: auditAccess,
      request: { query: exportQuery },
      responses: {
        200: { content: { "application/x-ndjson": { schema: z.string() }, "text/csv": { schema: z.string() } }, description: "The entries, streamed" },
        400: failure("an unknown format, a filter too long, a malformed date or kind, or since after until"),
      },
    }),
    (c) => {
      const query = c.req.valid("query");
      const filter = storeQuery(query);
      const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, "");
      return c.body(exportStream(store.audit.export(filter), query.format), 200, {
        "Content-Type": query.format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
        "Content-Disposition": `attachment; filename="pier-activity-${stamp}.${query.format}"`,
        "Cache-Control": "no-store",
      });
    },
  );
}
