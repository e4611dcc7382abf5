import type { SQLOutputValue, StatementSync } from "node:sqlite";
import { ServerError } from "../errors.ts";
import { columnReaders } from "./sqlite-columns.ts";

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

/**
 * A certificate is "expiring" when less than a third of its lifetime is left: agents renew from
 * two thirds on (plus up to a tenth of jitter), so it is the window in which a renewal is due —
 * the same rule as `Pier.Identity.Certificate.Status` of an environment (api/views.ts).
 */
const statusSql = `
  CASE
    WHEN d.revoked_at IS NOT NULL THEN 'revoked'
    WHEN EXISTS (
      SELECT 1 FROM device_certificates n
      WHERE n.environment_id = d.environment_id AND n.revoked_at IS NULL
        AND (n.issued_at > d.issued_at OR (n.issued_at = d.issued_at AND n.serial > d.serial))
    ) THEN 'superseded'
    WHEN d.not_after <= :now THEN 'expired'
    WHEN (d.not_after - :now) * 3 < d.not_after - d.not_before THEN 'expiring'
    ELSE 'active'
  END`;

const rowsSql = `
  WITH inventory AS (
    SELECT d.serial, d.environment_id, COALESCE(e.name, '') AS environment_name, d.edge_id, d.subject, d.issuer,
           d.not_before, d.not_after, d.issued_at, d.reason, ${statusSql} AS status
    FROM device_certificates d LEFT JOIN environments e ON e.id = d.environment_id
  )
  SELECT * FROM inventory
  WHERE (:status IS NULL OR status = :status)
    AND (:search IS NULL OR serial LIKE :search ESCAPE '\\' OR subject LIKE :search ESCAPE '\\' OR issuer LIKE :search ESCAPE '\\'
         OR edge_id LIKE :search ESCAPE '\\' OR environment_name LIKE :search ESCAPE '\\')`;

const expirySql = `
  SELECT
    COALESCE(SUM(left_ms <= 0), 0) AS expired,
    COALESCE(SUM(left_ms > 0 AND left_ms < ${hourMs}), 0) AS hour,
    COALESCE(SUM(left_ms >= ${hourMs} AND left_ms < ${dayMs}), 0) AS day,
    COALESCE(SUM(left_ms >= ${dayMs} AND left_ms < ${7 * dayMs}), 0) AS week,
    COALESCE(SUM(left_ms >= ${7 * dayMs} AND left_ms < ${30 * dayMs}), 0) AS month,
    COALESCE(SUM(left_ms >= ${30 * dayMs}), 0) AS later
  FROM (SELECT d.not_after - :now AS left_ms, ${statusSql} AS status FROM device_certificates d)
  WHERE status NOT IN ('revoked', 'superseded')`;

function corrupt(column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable device certificate (column ${column}); restore a backup or remove the record.`);
}

const { textOf: text, integerOf: integer } = columnReaders(corrupt);

function decodeRow(row: Record<string, SQLOutputValue>): InventoryRow {
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
 * One page of `device_certificates` with each row's status computed in SQL at `now` (so a page
 * and its total agree), ordered by not-after then serial, and the expiry windows of the
 * certificates in use. `statement` prepares (and caches) SQL on the store's connection.
 *
 * @example
 * inventoryPage((sql) => db.prepare(sql), { start: 0, limit: 100, status: "expiring", now: new Date() });
 */
export function inventoryPage(statement: (sql: string) => StatementSync, query: InventoryQuery): InventoryPage {
  const params = { now: query.now.getTime(), status: query.status ?? null, search: likePattern(query.search) };
  const rows = statement(`${rowsSql} ORDER BY not_after, serial LIMIT :limit OFFSET :start`).all({ ...params, limit: query.limit, start: query.start }).map(decodeRow);
  const total = integer(statement(`SELECT COUNT(*) AS total FROM (${rowsSql})`).get(params) ?? {}, "total");
  const counts = statement(expirySql).get({ now: params.now }) ?? {};
  const expiry: ExpiryCounts = {
    expired: integer(counts, "expired"),
    hour: integer(counts, "hour"),
    day: integer(counts, "day"),
    week: integer(counts, "week"),
    month: integer(counts, "month"),
    later: integer(counts, "later"),
  };
  return { rows, total, expiry };
}

/**
 * Which of `serials` (lowercase hex, no leading zeros) are recorded in `device_certificates`: a
 * certificate a device presented is Pier's when it is, an operator's otherwise. One query.
 *
 * @example
 * recordedSerials((sql) => db.prepare(sql), ["1a2b", "ff"]); // Set { "1a2b" }
 */
export function recordedSerials(statement: (sql: string) => StatementSync, serials: readonly string[]): Set<string> {
  if (serials.length === 0) return new Set();
  const rows = statement("SELECT serial FROM device_certificates WHERE serial IN (SELECT value FROM json_each(?))").all(JSON.stringify(serials));
  return new Set(rows.map((row) => text(row, "serial")));
}
