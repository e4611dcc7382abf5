import { chmodSync, statSync, writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "./sqlite-store.ts";
import { tempDir } from "./temp-dir.testkit.ts";

const mode = (path: string) => statSync(path).mode & 0o777;

/**
 * What only a SQLite file has. Everything else the store does is its contract, run on SQLite and
 * PostgreSQL alike: store.contract.test.ts.
 */
describe("SqliteStore: files", () => {
  it("creates the database, its directory and its WAL files readable by the owner only", async () => {
    await using dir = tempDir("store");
    const path = dir.file("data/pier.db");
    await using store = await SqliteStore.open(path);
    await store.environments.create({ name: "edge-1", type: "edge-agent" });
    expect(mode(path)).toBe(0o600);
    expect(mode(`${path}-wal`)).toBe(0o600);
    expect(mode(`${path}-shm`)).toBe(0o600);
    expect(mode(dir.file("data"))).toBe(0o700);
    const journal = new DatabaseSync(path, { readOnly: true });
    expect(journal.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    journal.close();
  });

  it("narrows an existing database that others could read", async () => {
    await using dir = tempDir("store");
    const path = dir.file("pier.db");
    await (await SqliteStore.open(path)).close();
    chmodSync(path, 0o644);
    await using store = await SqliteStore.open(path);
    expect(store.path).toBe(path);
    expect(mode(path)).toBe(0o600);
  });

  it("refuses a file that is not a database, naming it", async () => {
    await using dir = tempDir("store");
    const path = dir.file("pier.db");
    writeFileSync(path, "this is a text file, not SQLite, and it is long enough to have a header".repeat(4));
    await expect(SqliteStore.open(path)).rejects.toMatchObject({ code: "store_failed" });
    await expect(SqliteStore.open(path)).rejects.toThrow(`Cannot open the database ${path}: file is not a database`);
  });
});
