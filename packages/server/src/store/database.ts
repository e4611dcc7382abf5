import { dirname } from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { ServerError } from "../errors.ts";
import { DatabaseAvailability, type AvailabilityLog } from "./database-availability.ts";
import { NodeSqliteDialect, type NodeSqliteAdapter, openSqliteFile } from "./node-sqlite-dialect.ts";
import type { Database } from "./schema.ts";
import type { DiskLocation } from "./disk-full.ts";
import { storeError } from "./store-errors.ts";

/** Where the store lives: a SQLite file, or a PostgreSQL URL (`postgres://user:password@host:port/db`). */
export type StoreTarget = { readonly path: string } | { readonly url: string };

/** The SQL engine under the store. */
export type Dialect = "sqlite" | "postgres";

/**
 * One open database: the kysely handle, its engine, and `run`, through which every store query
 * goes so that a closed store and engine errors read the same everywhere.
 *
 * @example
 * const database = await openDatabase({ path: "/var/lib/pier/pier.db" });
 * const count = await database.run((db) => db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow());
 * await database.close();
 */
export interface SqlDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /**
   * Runs `work` against the database; rejects with `store_failed` once closed and maps engine
   * errors with `storeError` (ServerErrors thrown by `work` pass through).
   */
  run<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Releases the connection(s); calling it twice is harmless. */
  close(): Promise<void>;
}

/** Options of `openDatabase`. */
export interface OpenDatabaseOptions {
  /** SQLite: how long a write waits for another process's lock before failing (ms, default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * SQLite: checkpoint the WAL on a worker thread rather than inside the commit that passes
   * 1,000 pages, which blocks the event loop (store/wal-checkpointer.ts; the server's store).
   * `intervalMs`: time between checkpoints (default 1000).
   */
  readonly backgroundCheckpoints?: { readonly intervalMs?: number };
  /**
   * PostgreSQL: where to say, once per outage, that the database cannot be reached and when it
   * answers again (`DatabaseAvailability`); the server's log. Without it nothing is logged.
   */
  readonly log?: AvailabilityLog;
  /** PostgreSQL: called once each time the database answers again after an outage. */
  readonly onReachableAgain?: () => void;
  /**
   * Told of every query refused because the disk is full (`disk_full`, naming the data directory
   * or the PostgreSQL database): the server's `DiskFullNotice` says it once.
   */
  readonly onDiskFull?: (error: ServerError) => void;
}

/** Which disk a database's full-disk errors name, and who is told of one. */
interface DiskWatch {
  readonly location: DiskLocation;
  readonly onDiskFull: ((error: ServerError) => void) | undefined;
}

const sqliteConnections = new WeakMap<SqlDatabase, NodeSqliteAdapter>();

/** The `node:sqlite` connection under a SQLite database (migrations, the check-in loop); `undefined` on PostgreSQL. */
export function sqliteConnectionOf(database: SqlDatabase): NodeSqliteAdapter | undefined {
  return sqliteConnections.get(database);
}

class OpenDatabase implements SqlDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  readonly #availability: DatabaseAvailability | undefined;
  /** Which disk a full-disk error names, and who is told of one (store/disk-full.ts). */
  readonly #disk: DiskWatch;
  #closed = false;

  constructor(db: Kysely<Database>, dialect: Dialect, availability: DatabaseAvailability | undefined, disk: DiskWatch) {
    this.db = db;
    this.dialect = dialect;
    this.#availability = availability;
    this.#disk = disk;
  }

  async run<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ServerError("store_failed", "The store has been closed (the server is shutting down).");
    const startedAt = Date.now();
    try {
      const result = await work(this.db);
      this.#availability?.succeeded(startedAt);
      return result;
    } catch (error) {
      const failure = storeError(error, this.#disk.location);
      this.#availability?.failed(failure);
      if (failure.code === "disk_full") this.#disk.onDiskFull?.(failure);
      throw failure;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }
}

/**
 * Opens the database at `target` (no migration: see `openStore`). SQLite: the file is created
 * private (0600) with WAL, foreign keys and a busy timeout (`node-sqlite-dialect.ts`).
 * PostgreSQL: a pool of up to 10 connections named `pier`, BIGINT and NUMERIC read as numbers,
 * and a first `SELECT 1`, so an unreachable database fails here, at start, as `unavailable`
 * naming host, port, database and the cause — never the password.
 *
 * @example
 * const database = await openDatabase({ url: process.env.PIER_DATABASE_URL! });
 */
export async function openDatabase(target: StoreTarget, options: OpenDatabaseOptions = {}): Promise<SqlDatabase> {
  if ("path" in target) {
    const adapter = openSqliteFile(target.path, options.busyTimeoutMs ?? 5000, options.backgroundCheckpoints ? { background: options.backgroundCheckpoints } : "in-commits");
    const database = new OpenDatabase(new Kysely<Database>({ dialect: new NodeSqliteDialect(adapter) }), "sqlite", undefined, { location: { dataDir: dirname(target.path) }, onDiskFull: options.onDiskFull });
    sqliteConnections.set(database, adapter);
    return database;
  }
  const url = parsePostgresUrl(target.url);
  const pool = new pg.Pool({
    connectionString: target.url,
    max: 10,
    application_name: "pier",
    connectionTimeoutMillis: 10_000,
    types: { getTypeParser: numberTypeParser },
  });
  // An idle connection that drops emits "error" on the pool; without a listener Node would end
  // the process. The next query gets a fresh connection or fails as `unavailable`.
  pool.on("error", () => undefined);
  // A connection kysely holds between queries (a transaction) has no pool listener: when its
  // backend ends then, pg emits "error" on the client itself. Its next query fails as
  // `unavailable` and the pool discards it on release; the process must not end.
  pool.on("connect", (client) => client.on("error", () => undefined));
  // A backend that answers FATAL (57P01 when PostgreSQL restarts) closes its connection right
  // after. The query fails at once, before the socket's end marks the client unusable, so kysely
  // would hand the dead connection back to the pool and the next query would take it: end it on
  // release instead, and the pool drops it.
  const dying = new WeakSet<pg.ClientBase>();
  pool.on("connect", (client) => client.connection.on("errorMessage", (message: { severity?: string }) => message.severity === "FATAL" && dying.add(client)));
  pool.on("release", (_error, client) => {
    if (dying.has(client)) void client.end().catch(() => undefined);
  });
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw connectFailure(error, url);
  }
  const availability = options.log === undefined ? undefined : new DatabaseAvailability({ where: url.where, log: options.log, ...(options.onReachableAgain === undefined ? {} : { onReachableAgain: options.onReachableAgain }) });
  return new OpenDatabase(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), "postgres", availability, { location: { postgres: url.where }, onDiskFull: options.onDiskFull });
}

// OIDs of int8 (BIGINT, COUNT(*)) and numeric: pg returns them as strings by default, since they
// may exceed 2^53; Pier's values (ids, milliseconds, counts) never do.
const INT8_OID = 20;
const NUMERIC_OID = 1700;

function numberTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown {
  if (oid === INT8_OID || oid === NUMERIC_OID) return Number;
  return pg.types.getTypeParser(oid, format ?? "text") as (value: string) => unknown;
}

/** The parts of a PostgreSQL URL that may be shown: never the password. */
interface PostgresLocation {
  readonly where: string;
  readonly user: string;
  readonly password: string;
}

function parsePostgresUrl(value: string): PostgresLocation {
  const fail = (rule: string) =>
    new ServerError("bad_request", `--database-url (PIER_DATABASE_URL) ${rule}.`, {
      field: "database-url",
      fix: "Give a URL such as postgres://pier:PASSWORD@db.example.com:5432/pier.",
    });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail("is not a valid URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw fail(`must start with postgres:// or postgresql:// (got ${url.protocol}//)`);
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw fail(`has a malformed %-escape in its ${what}`);
    }
  };
  // Like libpq: no user means the PGUSER / operating-system user, no host localhost (or `?host=`).
  const user = decode(url.username, "user");
  const host = url.hostname || url.searchParams.get("host") || "localhost";
  const database = decode(url.pathname.replace(/^\//, ""), "database name") || user || "postgres";
  return { where: `${host}:${url.port || "5432"}/${database}`, user, password: decode(url.password, "password") };
}

function connectFailure(error: unknown, location: PostgresLocation): ServerError {
  const raw = error instanceof Error ? error.message : String(error);
  // Defence in depth: no driver message should hold the password, but none may ever show it.
  const cause = location.password.length < 4 ? raw : raw.split(location.password).join("***");
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "28P01" || code === "28000") {
    return new ServerError("unavailable", `PostgreSQL at ${location.where} refused the login of user "${location.user}": ${cause}. Check the user and password in --database-url (PIER_DATABASE_URL).`, {
      fix: "Check the user and password in --database-url, and pg_hba.conf on the database server.",
    });
  }
  if (code === "3D000") {
    return new ServerError("unavailable", `PostgreSQL at ${location.where} has no such database: ${cause}. Create it (CREATE DATABASE) or fix the name in --database-url (PIER_DATABASE_URL).`);
  }
  return new ServerError("unavailable", `Cannot reach PostgreSQL at ${location.where}: ${cause}. Check --database-url (PIER_DATABASE_URL), and that PostgreSQL is running and accepts connections from this host.`);
}
