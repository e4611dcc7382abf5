import { type Expression, type ExpressionBuilder, type Kysely, type RawBuilder, type Selectable, type SqlBool, sql } from "kysely";
import { heartbeatGraceSeconds } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { Dialect, SqlDatabase } from "./database.ts";
import type { Database, EnvironmentsTable } from "./schema.ts";
import { membershipRows } from "./edge-groups.ts";
import { environmentsWithAllTags } from "./tags.ts";
import type { CertificateStatusFacts, DockerSummary, Environment, EnvironmentPage, EnvironmentPageQuery, EnvironmentSortField, EnvironmentSummary, StoredDockerSummary } from "./store.ts";

type From = ExpressionBuilder<Database, "environments">;

/** How many ids one `IN (…)` list carries (both engines take far more; this keeps statements small). */
const idsPerStatement = 500;

/**
 * `%`, `_` and `\` stand for themselves in a search: escaped for `LIKE … ESCAPE '\'`.
 *
 * @example
 * likeSubstring("50%_off"); // "%50\\%\\_off%"
 */
export function likeSubstring(search: string): string {
  return `%${search.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

// The same order on both engines: PostgreSQL compares text by the database's collation unless
// told otherwise, SQLite byte by byte ("C"). The indexes of migration 9 use the same expressions.
function textKey(dialect: Dialect, expression: Expression<string | null>): RawBuilder<string> {
  return dialect === "postgres" ? sql<string>`(${expression}) COLLATE "C"` : sql<string>`${expression}`;
}

function sortKey(dialect: Dialect, field: EnvironmentSortField): Expression<unknown> {
  switch (field) {
    case "id":
      return sql.ref("environments.id");
    case "name":
      return textKey(dialect, sql<string>`lower(environments.name)`);
    case "edgeId":
      return textKey(dialect, sql<string>`coalesce(environments.edge_id, '')`);
    case "lastCheckIn":
      return sql`coalesce(environments.last_check_in_at, 0)`;
    case "createdAt":
      return sql.ref("environments.created_at");
  }
}

/** The SQL of a client certificate's fingerprint, as migration 9 indexes it. */
function fingerprintOf(dialect: Dialect): RawBuilder<string | null> {
  return dialect === "postgres" ? sql<string | null>`((environments.client_certificate::jsonb) ->> 'fingerprintSha256')` : sql<string | null>`json_extract(environments.client_certificate, '$.fingerprintSha256')`;
}

/** A team scope's condition (auth/environment-scope.ts): members of these groups, waiting devices as if associated; nothing when empty. */
function scopeCondition(edgeGroupIds: readonly number[]): Expression<SqlBool> {
  if (edgeGroupIds.length === 0) return sql<SqlBool>`1 = 0`;
  // Per row (EXISTS), as `groupsOf` asks for one environment: the page walks its sort index and
  // stops at the page, and the total probes the indexes of migration 11 for each environment.
  // Materialising the groups' members instead (IN (membershipRows…)) measured 40 ms for 10,000.
  const ids = sql.join(edgeGroupIds);
  return sql<SqlBool>`EXISTS (SELECT 1 FROM edge_groups g WHERE g.id IN (${ids}) AND (
      (g.dynamic = 0 AND EXISTS (SELECT 1 FROM edge_group_environments s WHERE s.group_id = g.id AND s.environment_id = environments.id))
      OR (g.dynamic = 1 AND g.partial_match = 1 AND EXISTS (
        SELECT 1 FROM edge_group_tags gt JOIN environment_tags et ON et.tag_id = gt.tag_id AND et.environment_id = environments.id WHERE gt.group_id = g.id))
      OR (g.dynamic = 1 AND g.partial_match = 0
        AND EXISTS (SELECT 1 FROM edge_group_tags gt WHERE gt.group_id = g.id)
        AND NOT EXISTS (SELECT 1 FROM edge_group_tags gt WHERE gt.group_id = g.id
          AND NOT EXISTS (SELECT 1 FROM environment_tags et WHERE et.environment_id = environments.id AND et.tag_id = gt.tag_id)))))`;
}

function filters(query: EnvironmentPageQuery) {
  return (eb: From) => {
    const conditions: Expression<SqlBool>[] = [];
    if (query.untrusted !== undefined) conditions.push(eb("environments.user_trusted", "=", query.untrusted ? 0 : 1));
    if (query.waiting === true) conditions.push(eb.and([eb("environments.user_trusted", "=", 0), eb("environments.edge_id", "is not", null)]));
    // Written as NOT (…) rather than an OR: SQLite would otherwise fetch both halves through two
    // indexes and sort every row, instead of walking the sort's index and stopping at the page.
    if (query.waiting === false) conditions.push(eb.not(eb.and([eb("environments.user_trusted", "=", 0), eb("environments.edge_id", "is not", null)])));
    if (query.search !== undefined && query.search !== "") {
      // Both sides lowered by the engine, so a non-ASCII letter compares the same way on both.
      const pattern = sql`lower(${likeSubstring(query.search)})`;
      conditions.push(
        eb.or([
          sql<SqlBool>`lower(environments.name) LIKE ${pattern} ESCAPE '\\'`,
          sql<SqlBool>`lower(environments.edge_id) LIKE ${pattern} ESCAPE '\\'`,
          sql<SqlBool>`lower(environments.source_address) LIKE ${pattern} ESCAPE '\\'`,
        ]),
      );
    }
    if (query.tagIds !== undefined && query.tagIds.length > 0) conditions.push(sql<SqlBool>`environments.id IN (${environmentsWithAllTags(query.tagIds)})`);
    if (query.scopeEdgeGroupIds !== undefined) conditions.push(scopeCondition(query.scopeEdgeGroupIds));
    if (query.edgeGroupId !== undefined) conditions.push(sql<SqlBool>`environments.id IN (SELECT members.environment_id FROM (${membershipRows([query.edgeGroupId])}) AS members)`);
    if (query.heartbeat !== undefined) {
      // isHeartbeatAlive (@pier/protocol): now − last ≤ (2 × interval + grace) s; never seen is down.
      const { now, defaultIntervalSeconds } = query.heartbeat;
      const alive = sql<SqlBool>`(environments.last_check_in_at IS NOT NULL AND environments.last_check_in_at >= CAST(${now.getTime()} AS BIGINT) - (2 * coalesce(environments.checkin_interval_seconds, CAST(${defaultIntervalSeconds} AS BIGINT)) + ${heartbeatGraceSeconds}) * 1000)`;
      conditions.push(query.heartbeat.alive ? alive : eb.not(alive));
    }
    return eb.and(conditions);
  };
}

/** Reads a stored summary; anything else than the object `summarizeDockerSnapshot` writes is a corrupt row. */
function decodeSummary(environmentId: number, at: number, text: string | null): StoredDockerSummary | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const number = (key: keyof DockerSummary): number => {
    const field = record[key];
    if (typeof field !== "number" || !Number.isFinite(field)) {
      throw new ServerError("store_failed", `The database holds an unreadable Docker summary for environment ${environmentId} (field ${key}); the agent's next snapshot replaces it.`);
    }
    return field;
  };
  const dockerVersion = typeof record["dockerVersion"] === "string" ? record["dockerVersion"] : "";
  return {
    at: new Date(at),
    summary: {
      dockerVersion,
      runningContainers: number("runningContainers"),
      stoppedContainers: number("stoppedContainers"),
      healthyContainers: number("healthyContainers"),
      unhealthyContainers: number("unhealthyContainers"),
      images: number("images"),
      volumes: number("volumes"),
      cpus: number("cpus"),
      memoryBytes: number("memoryBytes"),
    },
  };
}

function chunks<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let index = 0; index < values.length; index += idsPerStatement) out.push(values.slice(index, index + idsPerStatement));
  return out;
}

/**
 * The stored Docker summaries of these environments. A query of its own rather than a join in
 * the page's: SQLite reaches `summary` only through the snapshot's JSON before it (overflow
 * pages), so joining before the sort read every snapshot (measured 411 ms for 10,000, 22 ms
 * without).
 */
async function dockerSummaries(db: Kysely<Database>, ids: readonly number[]): Promise<Map<number, StoredDockerSummary>> {
  const summaries = new Map<number, StoredDockerSummary>();
  for (const part of chunks(ids)) {
    const rows = await db.selectFrom("snapshots").select(["environment_id", "collected_at", "summary"]).where("environment_id", "in", part).execute();
    for (const row of rows) {
      const summary = decodeSummary(row.environment_id, row.collected_at, row.summary);
      if (summary !== null) summaries.set(row.environment_id, summary);
    }
  }
  return summaries;
}

/** The newest certificate (by issue time) the built-in CA issued to each of these environments. */
async function newestCertificates(db: Kysely<Database>, ids: readonly number[]): Promise<Map<number, CertificateStatusFacts>> {
  const newest = new Map<number, CertificateStatusFacts>();
  for (const part of chunks(ids)) {
    const rows = await db
      .selectFrom("device_certificates")
      .select(["environment_id", "serial", "not_before", "not_after", "revoked_at"])
      .where("environment_id", "in", part)
      // The same order as `certificates.listByEnvironment`, whose first row the detail view shows.
      .orderBy("environment_id")
      .orderBy("issued_at", "desc")
      .orderBy("not_after", "desc")
      .execute();
    for (const row of rows) {
      if (newest.has(row.environment_id)) continue;
      newest.set(row.environment_id, { serial: row.serial, notBefore: new Date(row.not_before), notAfter: new Date(row.not_after), revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at) });
    }
  }
  return newest;
}

/** How many environments present each of these client-certificate fingerprints (index of migration 9). */
export async function sharedFingerprints(db: Kysely<Database>, dialect: Dialect, fingerprints: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const fingerprint = fingerprintOf(dialect);
  for (const part of chunks(fingerprints)) {
    const rows = await db
      .selectFrom("environments")
      .select([fingerprint.as("fingerprint"), (eb) => eb.fn.countAll<number>().as("count")])
      .where(fingerprint, "in", part)
      .groupBy(fingerprint)
      .execute();
    for (const row of rows) if (row.fingerprint !== null) counts.set(row.fingerprint, Number(row.count));
  }
  return counts;
}

/** The page's one query: environments filtered, sorted, windowed. */
export function pageQuery(db: Kysely<Database>, dialect: Dialect, query: EnvironmentPageQuery) {
  const order = query.order ?? "asc";
  let page = db
    .selectFrom("environments")
    .selectAll("environments")
    .where(filters(query))
    .orderBy(sortKey(dialect, query.sort ?? "id"), order)
    .orderBy("environments.id", order);
  if (query.limit !== undefined) page = page.limit(query.limit);
  if (query.start !== undefined && query.start > 0) {
    // PostgreSQL takes OFFSET alone; SQLite needs a LIMIT before it (-1: no limit).
    page = query.limit === undefined && dialect === "sqlite" ? page.limit(-1).offset(query.start) : page.offset(query.start);
  }
  return page;
}

/**
 * One page of environments (`EnvironmentStore.page`): the page in one query, the total in a
 * second, then, for the page's environments only, their snapshots' summaries (never the
 * snapshots), newest certificates and shared-certificate counts. Ties of
 * the sort key are ordered by id, in the same direction, so consecutive pages never overlap.
 *
 * @example
 * const { items, total } = await pageEnvironments(database, { waiting: false, sort: "name", start: 0, limit: 25 }, decodeEnvironment);
 */
export async function pageEnvironments(database: SqlDatabase, query: EnvironmentPageQuery, decode: (row: Selectable<EnvironmentsTable>) => Environment): Promise<EnvironmentPage> {
  const { dialect } = database;
  return database.run(async (db) => {
    const rows = await pageQuery(db, dialect, query).execute();
    const counted = await db
      .selectFrom("environments")
      .select((eb) => eb.fn.countAll<number>().as("total"))
      .where(filters(query))
      .executeTakeFirstOrThrow();

    const environments = rows.map(decode);
    const ids = environments.map((environment) => environment.id);
    const summaries = await dockerSummaries(db, ids);
    const certificates = await newestCertificates(db, ids);
    const fingerprints = [...new Set(environments.flatMap((environment) => (environment.clientCertificate ? [environment.clientCertificate.fingerprintSha256] : [])))];
    const shared = fingerprints.length === 0 ? new Map<string, number>() : await sharedFingerprints(db, dialect, fingerprints);
    const items: EnvironmentSummary[] = environments.map((environment) => {
      const fingerprint = environment.clientCertificate?.fingerprintSha256;
      return {
        ...environment,
        docker: summaries.get(environment.id) ?? null,
        newestCertificate: certificates.get(environment.id) ?? null,
        clientCertificateSharedBy: fingerprint === undefined ? 0 : (shared.get(fingerprint) ?? 1),
      };
    });
    return { items, total: Number(counted.total) };
  });
}
