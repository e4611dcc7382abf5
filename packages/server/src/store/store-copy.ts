import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { sql, type Kysely } from "kysely";
import { ClusterFiles } from "../cluster/cluster-files.ts";
import { SecretBox, readSecretFile } from "../cluster/secret-box.ts";
import { ServerError } from "../errors.ts";
import { registryPasswordName, registrySecretBox } from "../fleet/registries.ts";
import type { SqlDatabase } from "./database.ts";
import { openMigratedDatabase } from "./open-store.ts";
import type { Database } from "./schema.ts";
import { SqlStore } from "./sql-store.ts";

/**
 * The tables `copyStore` copies, parents before children (foreign keys), each with the key it is
 * read in order of. Not copied: `schema_migrations` (both ends are migrated first), `replicas`
 * and `edge_sessions` (runtime state of running replicas), `cluster_files` (made from `--data`
 * when a secret file is given).
 */
const copiedTables = [
  { table: "environments", key: "id" },
  { table: "users", key: "id" },
  { table: "api_tokens", key: "id" },
  { table: "settings", key: "id" },
  { table: "audit_events", key: "id" },
  { table: "snapshots", key: "environment_id" },
  { table: "device_certificates", key: "serial" },
  { table: "pki_rotation", key: "id" },
  { table: "crl_numbers", key: "ca_spki_sha256" },
  { table: "revoked_logins", key: "jti" },
  { table: "tags", key: "id" },
  { table: "environment_tags", key: ["environment_id", "tag_id"] },
  { table: "edge_groups", key: "id" },
  { table: "edge_group_tags", key: ["group_id", "tag_id"] },
  { table: "edge_group_environments", key: ["group_id", "environment_id"] },
  { table: "edge_group_requests", key: "environment_id" },
  { table: "edge_stacks", key: "id" },
  { table: "edge_stack_versions", key: ["stack_id", "version"] },
  { table: "edge_stack_groups", key: ["stack_id", "group_id"] },
  { table: "edge_stack_registries", key: ["stack_id", "registry_id"] },
  { table: "edge_stack_status", key: ["stack_id", "environment_id"] },
  { table: "edge_stack_rollouts", key: ["stack_id", "version"] },
  { table: "edge_stack_targets", key: ["stack_id", "environment_id"] },
  { table: "edge_jobs", key: "id" },
  { table: "edge_job_groups", key: ["job_id", "group_id"] },
  { table: "edge_job_environments", key: ["job_id", "environment_id"] },
  { table: "edge_job_tasks", key: ["job_id", "environment_id"] },
  { table: "registries", key: "id" },
  { table: "agent_update_schedules", key: "id" },
  { table: "agent_update_progress", key: ["schedule_id", "environment_id"] },
  { table: "teams", key: "id" },
  { table: "team_members", key: ["team_id", "user_id"] },
  { table: "team_edge_groups", key: ["team_id", "edge_group_id"] },
] as const satisfies readonly { table: keyof Database; key: string | readonly string[] }[];

/** Tables deliberately left behind (see `copiedTables`). */
const skippedTables = new Set(["schema_migrations", "replicas", "edge_sessions", "cluster_files"]);

/** The tables whose `id` is a PostgreSQL identity column, set past the largest copied id. */
const identityTables = ["environments", "users", "api_tokens", "audit_events", "tags", "edge_groups", "edge_stacks", "edge_jobs", "registries", "agent_update_schedules", "teams"] as const;

/** Rows read (and inserted) per statement: 200 rows of ≤ 20 columns stay far below PostgreSQL's 65,535 parameters. */
const batchRows = 200;

/** Options of `copyStore`. */
export interface CopyStoreOptions {
  /** The single server's SQLite file (`DATA/pier.db`); its directory is the `--data` the files come from. */
  readonly from: string;
  /** The PostgreSQL URL to copy into; must hold no environments, users or cluster files. */
  readonly to: string;
  /** `--secret-file` of the replicas: when given, the shared files of `--data` are stored sealed in `cluster_files`. */
  readonly secretFile?: string;
}

/** What `copyStore` copied: rows per table, and the cluster file names stored. */
export interface CopyStoreResult {
  readonly rows: Readonly<Record<string, number>>;
  readonly files: readonly string[];
}

/**
 * Copies a single server's store (SQLite) into PostgreSQL for scale-out (docs/deploy.md): both
 * ends are migrated to this build's schema, then every table is copied in one PostgreSQL
 * transaction keeping ids (identity sequences continue after the largest SQLite ever gave, removed rows included), and, with
 * `secretFile`, the built-in CA, the server key, the JWT secret and the uploaded mTLS set of the
 * file's directory are stored sealed in `cluster_files` by `ClusterFiles` (as a replica's
 * bootstrap does), so replicas keep the CA, the SPKI pin and the logins. Refuses (`conflict`) a
 * target that already holds environments, users or cluster files; nothing is written then.
 *
 * @example
 * const { rows } = await copyStore({ from: "/var/lib/pier/pier.db", to: "postgres://pier:…@db/pier", secretFile: "/run/secrets/pier-secret" });
 */
export async function copyStore(options: CopyStoreOptions): Promise<CopyStoreResult> {
  if (!existsSync(options.from)) {
    throw new ServerError("bad_request", `The SQLite store ${options.from} does not exist.`, { field: "--from", fix: "Give the single server's DATA/pier.db (stop that server first)." });
  }
  // Read before touching either database: an unusable secret file stops the copy at once.
  const box = options.secretFile === undefined ? undefined : new SecretBox(readSecretFile(options.secretFile));
  const dataDir = dirname(options.from);
  if (box && !existsSync(join(dataDir, "secrets", "jwt.key"))) {
    throw new ServerError("bad_request", `${dataDir} holds no secrets/jwt.key, so it is not the --data directory of a server that has run.`, {
      field: "--from",
      fix: "Give the pier.db inside the single server's --data directory, next to its ca/, tls/ and secrets/.",
    });
  }
  // The target first: an unreachable PostgreSQL leaves the SQLite file untouched (not even migrated).
  const target = await openMigratedDatabase({ url: options.to });
  try {
    const source = await openMigratedDatabase({ path: options.from });
    try {
      return await target.run((db) =>
        db.transaction().execute(async (trx) => {
          await refuseNonEmpty(trx);
          const { rows, lastIds } = await source.run((src) =>
            src.transaction().execute(async (read) => ({ rows: await copyTables(read, trx, registryResealer(dataDir, box)), lastIds: await lastAssignedIds(read) })),
          );
          for (const table of identityTables) {
            // Past the largest id SQLite ever gave (removed rows included): an id, and the EDGE_KEY naming it, is never reused.
            const last = Math.max(lastIds.get(table) ?? 0, Number((await sql<{ n: number | null }>`SELECT max(id) AS n FROM ${sql.table(table)}`.execute(trx)).rows[0]?.n ?? 0));
            if (last > 0) await sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), ${last})`.execute(trx);
          }
          // Files go in through the store's own path (its connections, sealed by ClusterFiles);
          // the data commits only after they are in.
          const files = box ? await storeFiles(target, box, dataDir) : [];
          return { rows, files };
        }),
      );
    } finally {
      await source.close();
    }
  } finally {
    await target.close();
  }
}

async function refuseNonEmpty(trx: Kysely<Database>): Promise<void> {
  const count = async (table: "environments" | "users" | "cluster_files") =>
    Number((await trx.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n);
  const held = { environments: await count("environments"), users: await count("users"), "cluster files": await count("cluster_files") };
  const found = Object.entries(held).filter(([, n]) => n > 0);
  if (found.length === 0) return;
  throw new ServerError("conflict", `The target database already holds ${found.map(([what, n]) => `${n} ${what}`).join(", ")}; a store copy goes into an empty database only, so nothing was copied.`, {
    field: "--to",
    fix: "Copy into a new, empty database (e.g. `dropdb pier && createdb -O pier pier`), and start no replica on it before the copy.",
    details: Object.fromEntries(found),
  });
}

async function copyTables(read: Kysely<Database>, write: Kysely<Database>, reseal: (row: Record<string, unknown>) => Record<string, unknown>): Promise<Record<string, number>> {
  // A table a later migration adds must be copied or skipped on purpose, never forgotten.
  const { rows: tables } = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(read);
  const known = new Set<string>([...skippedTables, ...copiedTables.map((entry) => entry.table)]);
  const unknown = tables.map((table) => table.name).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new ServerError("internal", `The store copy does not know the table(s) ${unknown.join(", ")}; nothing was copied. Use the pier version that wrote this database.`);
  const counts: Record<string, number> = {};
  for (const { table, key } of copiedTables) {
    let count = 0;
    // A composite key is read in order of its columns and resumed with a row-value comparison.
    const columns: readonly string[] = typeof key === "string" ? [key] : key;
    const keyRefs = sql.join(columns.map((column) => sql.ref(column)));
    let last: unknown[] | undefined;
    for (;;) {
      const after = last === undefined ? sql`` : sql`WHERE (${keyRefs}) > (${sql.join(last)})`;
      const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} ${after} ORDER BY ${keyRefs} LIMIT ${batchRows}`.execute(read);
      if (rows.length === 0) break;
      const values = rows.map(bytesAsBuffers).map((row) => (table === "registries" ? reseal(row) : row));
      if (table === "settings") {
        // The settings row may already exist (a migration's default): the copied one wins.
        for (const row of values) {
          await write
            .insertInto("settings")
            .values(row as never)
            .onConflict((conflict) => conflict.column("id").doUpdateSet({ document: row.document as string }))
            .execute();
        }
      } else {
        await write.insertInto(table).values(values).execute();
      }
      count += rows.length;
      const lastRow = rows.at(-1);
      last = columns.map((column) => lastRow?.[column]);
      if (rows.length < batchRows) break;
    }
    counts[table] = count;
  }
  return counts;
}

/**
 * Registry passwords are sealed on a single server with DATA/secrets/registry.key, on replicas
 * with the secret file (docs/fleet.md "Registries"): each is opened with the first and sealed
 * with the second, under the same row-bound name. Without a secret file a sealed password
 * cannot be carried over, so the copy is refused (nothing written).
 */
function registryResealer(dataDir: string, box: SecretBox | undefined): (row: Record<string, unknown>) => Record<string, unknown> {
  let single: SecretBox | undefined;
  return (row) => {
    const sealed = row.password_sealed;
    if (!Buffer.isBuffer(sealed)) return row;
    const name = registryPasswordName(Number(row.id));
    if (!box) {
      throw new ServerError("bad_request", `Registry ${String(row.id)} holds a password sealed with this server's secrets/registry.key, which replicas do not have; nothing was copied.`, {
        field: "--secret-file",
        fix: "Give the replicas' --secret-file to the copy: it re-seals registry passwords with it.",
      });
    }
    single ??= registrySecretBox({ dataDir });
    return { ...row, password_sealed: box.seal(name, single.open(name, sealed)) };
  };
}

/** The last id SQLite's AUTOINCREMENT gave in each table (`sqlite_sequence`), removed rows included. */
async function lastAssignedIds(read: Kysely<Database>): Promise<Map<string, number>> {
  const { rows } = await sql<{ name: string; seq: number }>`SELECT name, seq FROM sqlite_sequence`.execute(read);
  return new Map(rows.map((row) => [row.name, Number(row.seq)]));
}

/** node:sqlite reads BLOBs as Uint8Array; pg writes BYTEA from Buffers. */
function bytesAsBuffers(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([column, value]) => [column, value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value) : value]));
}

/** Stores `dataDir`'s shared files sealed, as a replica's bootstrap would (`ClusterFiles.bootstrap`, then the mTLS set). */
async function storeFiles(target: SqlDatabase, box: SecretBox, dataDir: string): Promise<string[]> {
  const store = new SqlStore(target);
  const files = new ClusterFiles({ store: store.cluster, box, dataDir });
  // Nothing to create: the single server made its files; bootstrap stores those it finds.
  const outcome = await files.bootstrap(async () => {});
  if (outcome !== "created") throw new ServerError("conflict", "Another process stored cluster files in the target database during the copy; nothing was copied.", { field: "--to" });
  await files.publish("mtls/");
  return (await store.cluster.listFiles()).map((file) => file.name);
}
