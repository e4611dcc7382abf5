import { sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { isForeignKeyViolation } from "./store-errors.ts";

/** A running `pier server` process sharing the database (docs/architecture.md "Scale-out"). */
export interface ReplicaRecord {
  id: string;
  name: string;
  /** `host:port` where the other replicas reach its peer listener. */
  peerAddress: string;
  startedAt: Date;
  /** Refreshed every few seconds while it runs; a replica not seen for long is dead. */
  seenAt: Date;
}

/** Which replica holds a device's edge session. */
export interface SessionOwner {
  environmentId: number;
  replicaId: string;
  openedAt: Date;
}

/** A file every replica needs (CA, server key, JWT secret…); the content is opaque bytes (encrypted before `putFiles`). */
export interface ClusterFile {
  name: string;
  content: Buffer;
  updatedAt: Date;
}

/** The replicas, who holds each device's session, the shared files, and cluster-wide locks. */
export interface ClusterStore {
  /** Inserts or refreshes a replica's row (`seen_at = at`). */
  touchReplica(replica: Omit<ReplicaRecord, "seenAt">, at: Date): Promise<void>;
  /** Every replica row, oldest start first. */
  replicas(): Promise<ReplicaRecord[]>;
  getReplica(id: string): Promise<ReplicaRecord | null>;
  /** Deletes replicas not seen since `before` and their edge_sessions rows; returns how many replicas. */
  pruneReplicas(before: Date): Promise<number>;
  /**
   * This replica holds the environment's session, opened at `openedAt` (this replica's clock):
   * written unless the row names another replica's session opened at the same time or later (a
   * claim that arrives late never takes a newer session's row). True when the row names this
   * session afterwards; `not_found` if the environment is gone.
   */
  claimSession(environmentId: number, replicaId: string, openedAt: Date): Promise<boolean>;
  /** Deletes the row only while it names this session (`replicaId` and `openedAt`); false otherwise. */
  releaseSession(environmentId: number, replicaId: string, openedAt: Date): Promise<boolean>;
  /**
   * Claims again, in one statement per 1,000 sessions, every session this replica holds (a lost
   * row heals), with the same rule as `claimSession`; environments gone are skipped. Returns the
   * ids whose row was written (missing or naming an older session), the others were in place.
   */
  reassertSessions(replicaId: string, sessions: readonly { environmentId: number; openedAt: Date }[]): Promise<number[]>;
  sessionOwner(environmentId: number): Promise<SessionOwner | null>;
  /** The rows of those of `environmentIds` (at most 1,000, else `bad_request`) that have one. */
  sessionOwners(environmentIds: readonly number[]): Promise<SessionOwner[]>;
  /** Shared files whose name starts with `prefix` (all without one), by name. */
  listFiles(prefix?: string): Promise<ClusterFile[]>;
  /** Upserts all in one transaction; `bad_request` naming the file if a name or a size is out of bounds (`checkClusterFile`). */
  putFiles(files: readonly { name: string; content: Buffer }[], at: Date): Promise<void>;
  /** Deletes the files whose name starts with `prefix` (not empty); returns how many. */
  deleteFiles(prefix: string): Promise<number>;
  /**
   * Runs `fn` holding a cluster-wide lock named `name`: PostgreSQL `pg_advisory_lock` on a
   * connection of its own, released in `finally`; SQLite an in-process mutex (one process owns
   * the file). Not reentrant: `fn` must not take the same lock again.
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Longest cluster file name (and prefix). */
export const maxClusterFileNameLength = 200;
/** Largest cluster file content (1 MiB): CA keys and certificates are a few KiB. */
export const maxClusterFileBytes = 1024 * 1024;

const namePattern = /^[A-Za-z0-9._/-]*$/;

/**
 * Refuses (`bad_request`, naming it) a cluster file name or prefix that is longer than 200
 * characters, uses anything but `A–Z a–z 0–9 . _ / -`, contains `..` or starts with `/`: names
 * become paths under `--data` on every replica. Names must not be empty; prefixes may.
 *
 * @example
 * checkClusterFileName("ca/ca.key", "name"); // ok
 * checkClusterFileName("../etc/passwd", "name"); // throws bad_request
 */
export function checkClusterFileName(name: string, kind: "name" | "prefix"): void {
  const bad = (rule: string) => new ServerError("bad_request", `Cluster file ${kind} "${name.slice(0, maxClusterFileNameLength)}" ${rule}.`, { field: kind, details: { [kind]: name.slice(0, maxClusterFileNameLength) } });
  if (typeof name !== "string") throw new ServerError("bad_request", `Cluster file ${kind} must be a string.`, { field: kind });
  if (kind === "name" && name === "") throw bad("is empty; give the file a name");
  if (name.length > maxClusterFileNameLength) throw bad(`is ${name.length} characters long; at most ${maxClusterFileNameLength} are allowed`);
  if (!namePattern.test(name)) throw bad("may use only letters, digits, '.', '_', '/' and '-'");
  if (name.includes("..")) throw bad("must not contain '..'");
  if (name.startsWith("/")) throw bad("must be relative (not start with '/')");
}

/**
 * Refuses (`bad_request`, naming the file) a file whose name fails `checkClusterFileName` or
 * whose content is not bytes or is larger than 1 MiB.
 *
 * @example
 * checkClusterFile({ name: "secrets/jwt.key", content: randomBytes(64) });
 */
export function checkClusterFile(file: { name: string; content: Buffer }): void {
  checkClusterFileName(file.name, "name");
  if (!Buffer.isBuffer(file.content)) throw new ServerError("bad_request", `Cluster file "${file.name}" has no content bytes.`, { field: "content", details: { name: file.name } });
  if (file.content.length > maxClusterFileBytes) {
    throw new ServerError("bad_request", `Cluster file "${file.name}" is ${file.content.length} bytes; at most ${maxClusterFileBytes} (1 MiB) are allowed.`, {
      field: "content",
      details: { name: file.name, bytes: file.content.length, maxBytes: maxClusterFileBytes },
    });
  }
}

function corrupt(table: string, column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable ${table} row (column ${column}); restore a backup or remove the row.`);
}

/** A stored millisecond time (BIGINT may arrive as a numeric string from some drivers). */
function millisOf(value: unknown, table: string, column: string): Date {
  const millis = typeof value === "string" ? Number(value) : value;
  if (typeof millis !== "number" || !Number.isSafeInteger(millis)) throw corrupt(table, column);
  return new Date(millis);
}

function textOf(value: unknown, table: string, column: string): string {
  if (typeof value !== "string") throw corrupt(table, column);
  return value;
}

function millis(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(value)) throw new ServerError("bad_request", `${field} must be a valid Date.`, { field });
  return value;
}

/** Sessions claimed again per statement (3 parameters each: far below both engines' limits). */
const reassertBatch = 1_000;
/** Most environments `sessionOwners` reads at once (a page of the API is at most 1,000). */
export const maxSessionOwnerIds = 1_000;

/**
 * When a claim may replace the stored row (`ON CONFLICT … DO UPDATE … WHERE`): the stored session
 * is older, or it is this replica's own. A claim delayed past a newer session's (a reconnect to
 * another replica meanwhile) changes nothing, so that replica's later release cannot remove it.
 */
const claimRule = sql<boolean>`(edge_sessions.opened_at < excluded.opened_at OR edge_sessions.replica_id = excluded.replica_id)`;

function integerId(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) throw new ServerError("bad_request", `${field} must hold integers.`, { field });
  return value;
}

function decodeReplica(row: { id: unknown; name: unknown; peer_address: unknown; started_at: unknown; seen_at: unknown }): ReplicaRecord {
  return {
    id: textOf(row.id, "replicas", "id"),
    name: textOf(row.name, "replicas", "name"),
    peerAddress: textOf(row.peer_address, "replicas", "peer_address"),
    startedAt: millisOf(row.started_at, "replicas", "started_at"),
    seenAt: millisOf(row.seen_at, "replicas", "seen_at"),
  };
}

function decodeFile(row: { name: unknown; content: unknown; updated_at: unknown }): ClusterFile {
  if (!(row.content instanceof Uint8Array)) throw corrupt("cluster_files", "content");
  return { name: textOf(row.name, "cluster_files", "name"), content: Buffer.from(row.content), updatedAt: millisOf(row.updated_at, "cluster_files", "updated_at") };
}

/**
 * One lock per name inside this process: callers queue in order. On SQLite it is the whole lock
 * (one process owns the file); on PostgreSQL it keeps a process to one connection waiting per name.
 */
class NamedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(name) ?? Promise.resolve();
    let release = () => {};
    const tail = new Promise<void>((resolve) => (release = resolve));
    this.#tails.set(name, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(name) === tail) this.#tails.delete(name);
    }
  }
}

/**
 * `ClusterStore` on the store's database, the same queries for SQLite and PostgreSQL; every
 * query goes through `database.run`, so failures read like every other store failure.
 *
 * @example
 * const cluster = new SqlClusterStore(await openDatabase({ url }));
 * await cluster.withLock("built-in-ca", async () => { if ((await cluster.listFiles("ca/")).length === 0) await cluster.putFiles(files, new Date()); });
 */
export class SqlClusterStore implements ClusterStore {
  readonly #database: SqlDatabase;
  readonly #mutex = new NamedMutex();

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async touchReplica(replica: Omit<ReplicaRecord, "seenAt">, at: Date): Promise<void> {
    const row = { id: replica.id, name: replica.name, peer_address: replica.peerAddress, started_at: millis(replica.startedAt, "startedAt"), seen_at: millis(at, "at") };
    return this.#database.run(async (db) => {
      await db
        .insertInto("replicas")
        .values(row)
        .onConflict((conflict) => conflict.column("id").doUpdateSet({ name: row.name, peer_address: row.peer_address, started_at: row.started_at, seen_at: row.seen_at }))
        .execute();
    });
  }

  replicas(): Promise<ReplicaRecord[]> {
    return this.#database.run(async (db) => (await db.selectFrom("replicas").selectAll().orderBy("started_at").orderBy("id").execute()).map(decodeReplica));
  }

  getReplica(id: string): Promise<ReplicaRecord | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("replicas").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : decodeReplica(row);
    });
  }

  async pruneReplicas(before: Date): Promise<number> {
    const cutoff = millis(before, "before");
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const dead = trx.selectFrom("replicas").select("id").where("seen_at", "<", cutoff);
        await trx.deleteFrom("edge_sessions").where("replica_id", "in", dead).execute();
        const result = await trx.deleteFrom("replicas").where("seen_at", "<", cutoff).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
    );
  }

  async claimSession(environmentId: number, replicaId: string, openedAt: Date): Promise<boolean> {
    const opened = millis(openedAt, "openedAt");
    return this.#database.run(async (db) => {
      try {
        const written = await db
          .insertInto("edge_sessions")
          .values({ environment_id: environmentId, replica_id: replicaId, opened_at: opened })
          .onConflict((conflict) => conflict.column("environment_id").doUpdateSet({ replica_id: replicaId, opened_at: opened }).where(claimRule))
          .returning("environment_id")
          .execute();
        if (written.length > 0) return true;
        // Not written: the row names a newer session, or this very one already.
        const row = await db.selectFrom("edge_sessions").select(["replica_id", "opened_at"]).where("environment_id", "=", environmentId).executeTakeFirst();
        return row !== undefined && row.replica_id === replicaId && Number(row.opened_at) === opened;
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new ServerError("not_found", `Environment ${environmentId} does not exist (removed meanwhile); its session cannot be claimed.`, { cause: error });
        throw error;
      }
    });
  }

  async releaseSession(environmentId: number, replicaId: string, openedAt: Date): Promise<boolean> {
    const opened = millis(openedAt, "openedAt");
    return this.#database.run(async (db) => {
      const result = await db.deleteFrom("edge_sessions").where("environment_id", "=", environmentId).where("replica_id", "=", replicaId).where("opened_at", "=", opened).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async reassertSessions(replicaId: string, sessions: readonly { environmentId: number; openedAt: Date }[]): Promise<number[]> {
    const held = sessions.map((session) => ({ id: integerId(session.environmentId, "environmentId"), opened: millis(session.openedAt, "openedAt") }));
    const written: number[] = [];
    for (let start = 0; start < held.length; start += reassertBatch) {
      const batch = held.slice(start, start + reassertBatch);
      // VALUES names its columns column1, column2 on both engines (CAST: PostgreSQL would type bare
      // parameters as text); joined with environments so a removed one is skipped rather than failing the batch.
      const rows = sql.join(batch.map((session) => sql`(CAST(${session.id} AS BIGINT), CAST(${session.opened} AS BIGINT))`));
      const result = await this.#database.run((db) =>
        sql<{ environment_id: number | string }>`INSERT INTO edge_sessions (environment_id, replica_id, opened_at)
          SELECT environments.id, ${replicaId}, held.column2 FROM (VALUES ${rows}) AS held JOIN environments ON environments.id = held.column1 WHERE true
          ON CONFLICT (environment_id) DO UPDATE SET replica_id = excluded.replica_id, opened_at = excluded.opened_at
          WHERE ${claimRule} AND (edge_sessions.replica_id <> excluded.replica_id OR edge_sessions.opened_at <> excluded.opened_at)
          RETURNING environment_id`.execute(db),
      );
      for (const row of result.rows) written.push(Number(row.environment_id));
    }
    return written.sort((a, b) => a - b);
  }

  sessionOwner(environmentId: number): Promise<SessionOwner | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("edge_sessions").selectAll().where("environment_id", "=", environmentId).executeTakeFirst();
      if (row === undefined) return null;
      return { environmentId, replicaId: textOf(row.replica_id, "edge_sessions", "replica_id"), openedAt: millisOf(row.opened_at, "edge_sessions", "opened_at") };
    });
  }

  async sessionOwners(environmentIds: readonly number[]): Promise<SessionOwner[]> {
    if (environmentIds.length > maxSessionOwnerIds) {
      throw new ServerError("bad_request", `At most ${maxSessionOwnerIds} environments' session owners are read at once; ${environmentIds.length} were asked.`, { field: "environmentIds" });
    }
    const ids = [...new Set(environmentIds.map((id) => integerId(id, "environmentIds")))];
    if (ids.length === 0) return [];
    return this.#database.run(async (db) => {
      const rows = await db.selectFrom("edge_sessions").selectAll().where("environment_id", "in", ids).orderBy("environment_id").execute();
      return rows.map((row) => ({
        environmentId: Number(row.environment_id),
        replicaId: textOf(row.replica_id, "edge_sessions", "replica_id"),
        openedAt: millisOf(row.opened_at, "edge_sessions", "opened_at"),
      }));
    });
  }

  async listFiles(prefix = ""): Promise<ClusterFile[]> {
    checkClusterFileName(prefix, "prefix");
    return this.#database.run(async (db) => {
      let query = db.selectFrom("cluster_files").selectAll();
      // substr rather than LIKE: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
      if (prefix !== "") query = query.where(sql<string>`substr(name, 1, ${prefix.length})`, "=", prefix);
      return (await query.orderBy("name").execute()).map(decodeFile);
    });
  }

  async putFiles(files: readonly { name: string; content: Buffer }[], at: Date): Promise<void> {
    for (const file of files) checkClusterFile(file);
    const updatedAt = millis(at, "at");
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        for (const file of files) {
          await trx
            .insertInto("cluster_files")
            .values({ name: file.name, content: file.content, updated_at: updatedAt })
            .onConflict((conflict) => conflict.column("name").doUpdateSet({ content: file.content, updated_at: updatedAt }))
            .execute();
        }
      }),
    );
  }

  async deleteFiles(prefix: string): Promise<number> {
    checkClusterFileName(prefix, "prefix");
    if (prefix === "") throw new ServerError("bad_request", "Deleting cluster files needs a prefix; an empty one would delete them all.", { field: "prefix" });
    return this.#database.run(async (db) => {
      const result = await db.deleteFrom("cluster_files").where(sql<string>`substr(name, 1, ${prefix.length})`, "=", prefix).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (typeof name !== "string" || name === "" || name.length > maxClusterFileNameLength) {
      throw new ServerError("bad_request", `A cluster lock name must be 1 to ${maxClusterFileNameLength} characters.`, { field: "name" });
    }
    return this.#mutex.run(name, () => (this.#database.dialect === "postgres" ? this.#withAdvisoryLock(name, fn) : fn()));
  }

  /**
   * Session-level advisory lock on one connection held for the whole of `fn` (which uses the
   * pool's other connections), released by `pg_advisory_unlock` or, if that connection is lost,
   * by PostgreSQL ending its session. `fn`'s own failure is reported as it is.
   */
  async #withAdvisoryLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    try {
      await this.#database.run((db) =>
        db.connection().execute(async (connection) => {
          await sql`SELECT pg_advisory_lock(hashtextextended(${name}, 0))`.execute(connection);
          try {
            outcome = { ok: true, value: await fn() };
          } catch (error) {
            outcome = { ok: false, error };
          }
          await sql`SELECT pg_advisory_unlock(hashtextextended(${name}, 0))`.execute(connection);
        }),
      );
    } catch (error) {
      // A failed unlock means the connection is gone, and the lock with it: fn's failure is the one to report.
      if (outcome?.ok === false) throw outcome.error;
      throw error;
    }
    if (outcome === undefined) throw new ServerError("internal", `The cluster lock "${name}" was taken but its work did not run.`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }
}
