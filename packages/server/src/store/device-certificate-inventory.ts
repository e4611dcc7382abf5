import { type Kysely, type RawBuilder, sql } from "kysely";
import { ServerError } from "../errors.ts";
import { type Row, columnReaders } from "./row-readers.ts";
import type { Database } from "./schema.ts";

/** What the inventory says of a certificate the built-in CA issued (docs/ui.md, "Certificates"). */
export type IssuedCertificateStatus = "active" | "expiring" | "expired" | "revoked" | "superseded";

/** The statuses a query may filter on, in the order the UI offers them. */
export const issuedCertificateStatuses: readonly IssuedCertificateStatus[] = ["active", "expiring", "expired", "revoked", "superseded"];

/** One page of the inventory: which rows, filtered how. */
export interface InventoryQuery {
  /** Rows to skip (0-based). */
  start: number;
  limit: number;
  /** Case-insensitive substring of serial, subject, issuer, EDGE_ID or environment name. */
  search?: string;
  status?: IssuedCertificateStatus;
  now: Date;
}

/** One row: the certificate, its environment's name (`""` once removed) and its status now. */
export interface InventoryRow {
  serial: string;
  environmentId: number;
  environmentName: string;
  edgeId: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date;
  reason: string;
  status: IssuedCertificateStatus;
}

/** How many certificates in use (not revoked, not superseded) expire within each window. */
export interface ExpiryCounts {
  expired: number;
  hour: number;
  day: number;
  week: number;
  month: number;
  later: number;
}

/** A page of rows, the number of rows the filters match, and the expiry windows over every certificate in use. */
export interface InventoryPage {
  rows: InventoryRow[];
  total: number;
  expiry: ExpiryCounts;
}

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

function corrupt(column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable device certificate (column ${column}); restore a backup or remove the record.`);
}

const { textOf: text, integerOf: integer } = columnReaders(corrupt);

function decodeRow(row: Row): InventoryRow {
  const status = text(row, "status") as IssuedCertificateStatus;
  return {
    serial: text(row, "serial"),
    environmentId: integer(row, "environment_id"),
    environmentName: text(row, "environment_name"),
    edgeId: text(row, "edge_id"),
    subject: text(row, "subject"),
    issuer: text(row, "issuer"),
    notBefore: new Date(integer(row, "not_before")),
    notAfter: new Date(integer(row, "not_after")),
    issuedAt: new Date(integer(row, "issued_at")),
    reason: text(row, "reason"),
    status,
  };
}

/** `%needle%` for LIKE, with LIKE's own wildcards in the needle taken literally. */
function likePattern(search: string | undefined): string | null {
  if (search === undefined || search === "") return null;
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The inventory's status of row `d` at `now`, in SQL both engines run. A certificate is
 * "expiring" when less than a third of its lifetime is left: agents renew from two thirds on
 * (plus up to a tenth of jitter), so it is the window in which a renewal is due — the same rule
 * as `Pier.Identity.Certificate.Status` of an environment (api/views.ts).
 */
function statusExpression(now: number): RawBuilder<IssuedCertificateStatus> {
  return sql<IssuedCertificateStatus>`
    CASE
      WHEN d.revoked_at IS NOT NULL THEN 'revoked'
      WHEN EXISTS (
        SELECT 1 FROM device_certificates n
        WHERE n.environment_id = d.environment_id AND n.revoked_at IS NULL
          AND (n.issued_at > d.issued_at OR (n.issued_at = d.issued_at AND n.serial > d.serial))
      ) THEN 'superseded'
      WHEN d.not_after <= ${now} THEN 'expired'
      WHEN (d.not_after - ${now}) * 3 < d.not_after - d.not_before THEN 'expiring'
      ELSE 'active'
    END`;
}

/** The rows of the inventory at `now` that match the query's filters, as a subquery (`filtered`) to select or count from. */
function filteredInventory(query: InventoryQuery): RawBuilder<unknown> {
  const now = query.now.getTime();
  const search = likePattern(query.search);
  const conditions: RawBuilder<unknown>[] = [];
  if (query.status !== undefined) conditions.push(sql`status = ${query.status}`);
  if (search !== null) {
    // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
    const like = (column: string) => sql`lower(${sql.ref(column)}) LIKE lower(${search}) ESCAPE '\\'`;
    conditions.push(sql`(${sql.join(["serial", "subject", "issuer", "edge_id", "environment_name"].map(like), sql` OR `)})`);
  }
  const where = conditions.length === 0 ? sql`` : sql`WHERE ${sql.join(conditions, sql` AND `)}`;
  return sql`(
    SELECT * FROM (
      SELECT d.serial, d.environment_id, COALESCE(e.name, '') AS environment_name, d.edge_id, d.subject, d.issuer,
             d.not_before, d.not_after, d.issued_at, d.reason, ${statusExpression(now)} AS status
      FROM device_certificates d LEFT JOIN environments e ON e.id = d.environment_id
    ) AS inventory ${where}
  ) AS filtered`;
}

/** How many certificates in use fall in each expiry window, in SQL both engines run (no boolean SUM). */
function expiryCountsQuery(now: number): RawBuilder<Record<keyof ExpiryCounts, unknown>> {
  const count = (condition: RawBuilder<unknown>) => sql`COALESCE(SUM(CASE WHEN ${condition} THEN 1 ELSE 0 END), 0)`;
  return sql<Record<keyof ExpiryCounts, unknown>>`
    SELECT
      ${count(sql`left_ms <= 0`)} AS expired,
      ${count(sql`left_ms > 0 AND left_ms < ${sql.lit(hourMs)}`)} AS hour,
      ${count(sql`left_ms >= ${sql.lit(hourMs)} AND left_ms < ${sql.lit(dayMs)}`)} AS day,
      ${count(sql`left_ms >= ${sql.lit(dayMs)} AND left_ms < ${sql.lit(7 * dayMs)}`)} AS week,
      ${count(sql`left_ms >= ${sql.lit(7 * dayMs)} AND left_ms < ${sql.lit(30 * dayMs)}`)} AS month,
      ${count(sql`left_ms >= ${sql.lit(30 * dayMs)}`)} AS later
    FROM (SELECT d.not_after - ${now} AS left_ms, ${statusExpression(now)} AS status FROM device_certificates d) AS in_use
    WHERE status NOT IN ('revoked', 'superseded')`;
}

/** A count as the engines return it: a number (SQLite, and PostgreSQL's BIGINT/NUMERIC as the store reads them). */
function countOf(row: Record<string, unknown> | undefined, column: string): number {
  const value = row?.[column];
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) throw corrupt(column);
  return number;
}

/**
 * One page of `device_certificates` with each row's status computed in SQL at `now` (so a page
 * and its total agree), ordered by not-after then serial, and the expiry windows of the
 * certificates in use. The same SQL on SQLite and PostgreSQL.
 *
 * @example
 * await inventoryPage(database.db, { start: 0, limit: 100, status: "expiring", now: new Date() });
 */
export async function inventoryPage(db: Kysely<Database>, query: InventoryQuery): Promise<InventoryPage> {
  const filtered = filteredInventory(query);
  const page = await sql<Row>`SELECT * FROM ${filtered} ORDER BY not_after, serial LIMIT ${query.limit} OFFSET ${query.start}`.execute(db);
  const total = await sql<Record<string, unknown>>`SELECT COUNT(*) AS total FROM ${filtered}`.execute(db);
  const counts = (await expiryCountsQuery(query.now.getTime()).execute(db)).rows[0];
  const expiry: ExpiryCounts = {
    expired: countOf(counts, "expired"),
    hour: countOf(counts, "hour"),
    day: countOf(counts, "day"),
    week: countOf(counts, "week"),
    month: countOf(counts, "month"),
    later: countOf(counts, "later"),
  };
  return { rows: page.rows.map(decodeRow), total: countOf(total.rows[0], "total"), expiry };
}

/** Serials per query: well inside both engines' limits on bound parameters. */
const serialsPerQuery = 1000;

/**
 * Which of `serials` (lowercase hex, no leading zeros) are recorded in `device_certificates`: a
 * certificate a device presented is Pier's when it is, an operator's otherwise. One query per
 * 1000 serials.
 *
 * @example
 * await recordedSerials(database.db, ["1a2b", "ff"]); // Set { "1a2b" }
 */
export async function recordedSerials(db: Kysely<Database>, serials: readonly string[]): Promise<Set<string>> {
  const unique = [...new Set(serials)];
  const recorded = new Set<string>();
  for (let start = 0; start < unique.length; start += serialsPerQuery) {
    const rows = await db.selectFrom("device_certificates").select("serial").where("serial", "in", unique.slice(start, start + serialsPerQuery)).execute();
    for (const row of rows) recorded.add(row.serial);
  }
  return recorded;
}
