import { dirname } from "node:path";
import { ServerError } from "../errors.ts";
import { type OpenDatabaseOptions, type StoreTarget, openDatabase } from "./database.ts";
import { migrateDatabase } from "./migrations.ts";
import type { SqlDatabase } from "./database.ts";
import { SqlStore } from "./sql-store.ts";
import { storeError } from "./store-errors.ts";

/**
 * Opens the store at `target` (a SQLite file, created if needed, or a PostgreSQL URL) and
 * migrates it to this build's schema. Rejects with `store_failed` if the file is not a Pier
 * database or was written by a newer Pier, `unavailable` if PostgreSQL cannot be reached (host,
 * port and cause, never the password), `bad_request` for a malformed URL.
 *
 * @example
 * const store = await openStore(options.databaseUrl ? { url: options.databaseUrl } : { path: join(dataDir, "pier.db") });
 */
export async function openStore(target: StoreTarget, options: OpenDatabaseOptions = {}): Promise<SqlStore> {
  return new SqlStore(await openMigratedDatabase(target, options));
}

/** `openDatabase` then `migrateDatabase`, with `openStore`'s errors; closes the database if migrating fails. */
export async function openMigratedDatabase(target: StoreTarget, options: OpenDatabaseOptions = {}): Promise<SqlDatabase> {
  let database: SqlDatabase | undefined;
  try {
    database = await openDatabase(target, options);
    await migrateDatabase(database);
    return database;
  } catch (error) {
    await database?.close();
    if (error instanceof ServerError || !("path" in target)) throw storeError(error);
    // A full disk names the data directory, at start as later (store/disk-full.ts).
    const dataDir = dirname(target.path);
    const failure = storeError(error, { dataDir });
    if (failure.code === "disk_full") {
      throw new ServerError("disk_full", `Cannot open the database ${target.path}: the disk holding Pier's data directory ${dataDir} is full (SQLite needs room for its write-ahead log). Free space on that disk (df -h ${dataDir}) and start the server again.`, {
        cause: error,
        fix: `Free space on the disk of ${dataDir} and start the server again.`,
        details: { disk: dataDir },
      });
    }
    if (failure.code !== "store_failed") throw failure;
    throw new ServerError("store_failed", `Cannot open the database ${target.path}: ${error instanceof Error ? error.message : String(error)}. Check that it is a Pier database and that its directory is writable.`, {
      cause: error,
    });
  }
}
