import { statSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { type OpenDatabaseOptions, type SqlDatabase, sqliteConnectionOf } from "./database.ts";
import { openMigratedDatabase } from "./open-store.ts";
import { type TempDir, tempDir } from "./temp-dir.testkit.ts";

/** The store's database as `SqliteStore.open` opens it; disposing it closes it. */
async function open(dir: TempDir, options: OpenDatabaseOptions = {}): Promise<SqlDatabase & AsyncDisposable> {
  const database = await openMigratedDatabase({ path: dir.file("pier.db") }, options);
  return Object.assign(database, { [Symbol.asyncDispose]: () => database.close() });
}

/** The database's own `node:sqlite` connection. */
function connectionOf(database: SqlDatabase) {
  const adapter = sqliteConnectionOf(database);
  if (!adapter) throw new Error("not a SQLite database");
  return adapter.connection;
}

/** Writes ~1,500 WAL pages in one transaction (each row a page of its own), as a big flush does. */
function writePages(store: SqlDatabase): void {
  const connection = connectionOf(store);
  connection.exec("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)");
  const insert = connection.prepare("INSERT INTO filler (body) VALUES (?)");
  connection.exec("BEGIN IMMEDIATE");
  for (let row = 0; row < 1500; row++) insert.run("x".repeat(3000));
  connection.exec("COMMIT");
}

const size = (dir: TempDir, name: string) => statSync(dir.file(name), { throwIfNoEntry: false })?.size ?? 0;

describe("background WAL checkpoints", () => {
  it("without them, the commit that passes 1,000 WAL pages copies them into the database file itself", async () => {
    await using dir = tempDir("checkpoints");
    await using store = await open(dir);
    expect(connectionOf(store).prepare("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: 1000 });
    const before = size(dir, "pier.db");
    writePages(store);
    // Synchronously, inside the commit: the event loop waited for it.
    expect(size(dir, "pier.db") - before).toBeGreaterThan(1000 * 3000);
  });

  it("with them, the store's commits never checkpoint, and a worker thread does", async () => {
    await using dir = tempDir("checkpoints");
    {
      await using store = await open(dir, { backgroundCheckpoints: { intervalMs: 60 * 60_000 } });
      expect(connectionOf(store).prepare("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: 0 });
      const before = size(dir, "pier.db");
      writePages(store);
      expect(size(dir, "pier.db") - before).toBeLessThan(1000 * 3000);
      expect(size(dir, "pier.db-wal")).toBeGreaterThan(1500 * 3000);
    }
    await using store = await open(dir, { backgroundCheckpoints: { intervalMs: 20 } });
    const before = size(dir, "pier.db");
    writePages(store);
    expect(size(dir, "pier.db") - before).toBeLessThan(1000 * 3000);
    await vi.waitFor(() => expect(size(dir, "pier.db") - before).toBeGreaterThan(1500 * 3000), { timeout: 10_000 });
    // The store's connection still writes while the thread checkpoints.
    writePages(store);
    expect(connectionOf(store).prepare("SELECT count(*) AS rows FROM filler").get()).toEqual({ rows: 4500 });
  });
});
