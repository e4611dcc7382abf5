import type { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { openMigratedDatabase } from "./open-store.ts";
import { SqlStore } from "./sql-store.ts";

/** Options for `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing (ms, default 5000). */
  busyTimeoutMs?: number;
  /** Checkpoint the WAL on a worker thread, not inside commits (`OpenDatabaseOptions`); the server's store does. */
  backgroundCheckpoints?: { readonly intervalMs?: number };
  /** Told of every query refused because the disk is full (`OpenDatabaseOptions`); the server's `DiskFullNotice`. */
  onDiskFull?: (error: ServerError) => void;
}

/**
 * The `Store` on one SQLite file such as `DATA/pier.db` (WAL journal, foreign keys on, a busy
 * timeout for a second process, migrations applied at open, files readable by the owner only):
 * `SqlStore` opened with `openStore({ path })`, under the name existing callers use.
 *
 * @example
 * await using store = await SqliteStore.open("/var/lib/pier/pier.db");
 * const admin = await store.users.getByUsername("admin");
 */
export class SqliteStore extends SqlStore {
  /** The database file. */
  readonly path: string;

  private constructor(path: string, database: SqlDatabase) {
    super(database);
    this.path = path;
  }

  /**
   * Opens (creating if needed) the database at `path` and migrates it to the current schema.
   * Rejects with `store_failed` if the file is not a Pier database or was written by a newer Pier.
   */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    return new SqliteStore(path, await openMigratedDatabase({ path }, options));
  }
}
