import { chmodSync, closeSync, mkdirSync, openSync, realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect, SqliteDriver, type SqliteDatabase, type SqliteStatement } from "kysely";
import { ServerError } from "../errors.ts";
import { type WalCheckpointer, startWalCheckpointer } from "./wal-checkpointer.ts";

/** How many prepared statements one SQLite connection keeps (the store uses a few dozen). */
const statementCacheSize = 500;

/**
 * kysely's `SqliteDatabase` over a `node:sqlite` connection: each SQL text is prepared once and
 * kept (up to 500, oldest forgotten first), so the query builder costs one compile per call and
 * no re-preparation.
 *
 * @example
 * const adapter = new NodeSqliteAdapter(new DatabaseSync("pier.db"), realpathSync("pier.db"));
 * adapter.prepare("SELECT 1 AS one").all([]); // [{ one: 1 }]
 */
export class NodeSqliteAdapter implements SqliteDatabase {
  /** The connection itself, for migrations (`exec` of several statements) and the check-in loop. */
  readonly connection: DatabaseSync;
  /** The database file's real path (`:memory:` for none). */
  readonly file: string;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #checkpointer: WalCheckpointer | undefined;

  constructor(connection: DatabaseSync, file = ":memory:", checkpointer?: WalCheckpointer) {
    this.connection = connection;
    this.file = file;
    this.#checkpointer = checkpointer;
  }

  prepare(sql: string): SqliteStatement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) return cached;
    const statement = this.#wrap(this.connection.prepare(sql));
    if (this.#statements.size >= statementCacheSize) {
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  close(): void {
    this.#checkpointer?.stop();
    this.#statements.clear();
    if (this.connection.isOpen) this.connection.close();
  }

  #wrap(statement: StatementSync): SqliteStatement {
    const parameters = (values: readonly unknown[]) => values as SQLInputValue[];
    return {
      reader: statement.columns().length > 0,
      all: (values) => statement.all(...parameters(values)),
      run: (values) => statement.run(...parameters(values)),
      iterate: (values) => statement.iterate(...parameters(values)),
    };
  }
}

/** A first-come first-served lock held across awaits. */
class FileLock {
  #tail: Promise<void> = Promise.resolve();
  users = 0;

  async acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise((resolve) => (release = resolve));
    await previous;
    return release;
  }
}

// node:sqlite blocks the thread while it waits for a lock (busy timeout). Two connections to one
// file in this process would deadlock: one holds the write lock across an await of its
// transaction, the other's BEGIN IMMEDIATE blocks the event loop that the first needs to finish.
// So every connection to a file in this process takes the file's lock for as long as it holds
// its connection (one query, or one transaction).
const fileLocks = new Map<string, FileLock>();

/** kysely's SQLite driver whose transactions begin IMMEDIATE, serialised with the file's other connections in this process. */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #adapter: NodeSqliteAdapter;
  readonly #file: string;
  readonly #lock: FileLock;
  #release: (() => void) | undefined;

  constructor(adapter: NodeSqliteAdapter, file: string) {
    super({ database: adapter });
    this.#adapter = adapter;
    this.#file = file;
    const lock = fileLocks.get(file) ?? new FileLock();
    lock.users += 1;
    fileLocks.set(file, lock);
    this.#lock = lock;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    // kysely's own mutex lets one caller at a time get here, so one release slot suffices.
    this.#release = await this.#lock.acquire();
    return super.acquireConnection();
  }

  override async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
    return Promise.resolve();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("BEGIN IMMEDIATE"));
  }

  /**
   * Rolls back only a transaction still open. SQLite ends a transaction itself on some errors
   * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM: https://sqlite.org/lang_transaction.html); kysely's
   * ROLLBACK then failed with "cannot rollback - no transaction is active", and that error
   * replaced the one that said why (a full disk answered as an internal error).
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.#adapter.connection.isTransaction) return;
    await connection.executeQuery(CompiledQuery.raw("ROLLBACK"));
  }

  override async destroy(): Promise<void> {
    this.#lock.users -= 1;
    if (this.#lock.users === 0) fileLocks.delete(this.#file);
    await super.destroy();
  }
}

/**
 * kysely's `SqliteDialect` on `node:sqlite`. Transactions begin IMMEDIATE: the write lock is
 * taken up front, so a read-modify-write cannot be overtaken by another process on the same
 * file (a deferred transaction would fail with SQLITE_BUSY at its first write instead).
 */
export class NodeSqliteDialect extends SqliteDialect {
  readonly #adapter: NodeSqliteAdapter;

  constructor(adapter: NodeSqliteAdapter) {
    super({ database: adapter });
    this.#adapter = adapter;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#adapter, this.#adapter.file);
  }
}

/**
 * Creates the database file (and its directory) before SQLite does, so it is private from the
 * first byte. SQLite gives the -wal and -shm files it creates the database file's permissions,
 * so they follow. We do not touch `process.umask()`: it is process-wide (another module creating
 * files at the same moment would be affected) and cannot be set from worker threads.
 */
function preparePrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

/**
 * Opens (creating if needed) the SQLite file at `path`: private file (0600, directory 0700), WAL
 * journal (readers never wait for the writer), `synchronous = NORMAL`, foreign keys on, and a
 * busy timeout for a second process. Throws what `node:sqlite` throws, or `store_failed` when
 * the file system refuses WAL. `checkpoints: "background"` checkpoints the WAL on a worker
 * thread instead of inside commits (wal-checkpointer.ts).
 *
 * @example
 * const adapter = openSqliteFile("/var/lib/pier/pier.db", 5000);
 */
export function openSqliteFile(path: string, busyTimeoutMs: number, checkpoints: "in-commits" | { background: { intervalMs?: number } } = "in-commits"): NodeSqliteAdapter {
  preparePrivateFile(path);
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.["journal_mode"];
    if (mode !== "wal") throw new ServerError("store_failed", `SQLite refused WAL mode for ${path} (got ${String(mode)}); put the data directory on a local file system.`);
    // In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
  } catch (error) {
    db.close();
    throw error;
  }
  const file = realpathSync(path);
  const checkpointer = checkpoints === "in-commits" ? undefined : startWalCheckpointer(db, file, { busyTimeoutMs, ...checkpoints.background });
  return new NodeSqliteAdapter(db, file, checkpointer);
}
