import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, inject } from "vitest";
import type { Dialect, StoreTarget } from "./database.ts";
import { latestSchemaVersion, postgresMigrations } from "./migrations.ts";
import { openStore } from "./open-store.ts";
import type { Store } from "./store.ts";
import { tempDir, type TempDir } from "./temp-dir.testkit.ts";

/** One engine the contract suite runs on: where to put a fresh store, and how to open one. */
export interface StoreEngine {
  readonly dialect: Dialect;
  /**
   * A new place with nothing in it, not even tables (for migration tests too): SQLite a new file
   * in a temporary directory; PostgreSQL a new schema (`search_path` in the URL) of the describe's
   * database. Removed after the test.
   */
  target(): Promise<StoreTarget>;
  /**
   * A place holding this build's schema and no data, not shared with another test, ids starting at
   * 1: on PostgreSQL the describe's schema, migrated once and emptied (TRUNCATE … RESTART
   * IDENTITY) for each test's first call, which is ~5× faster than migrating a new schema; a new
   * `target()` for any further call in the same test. SQLite: a new file.
   */
  cleanTarget(): Promise<StoreTarget>;
  /** `openStore(target)` (migrated); on a `cleanTarget()` when none is given. */
  open(target?: StoreTarget): Promise<Store & AsyncDisposable>;
  /**
   * Runs one statement on `target` on a connection of its own, outside the store (a stand-in for an
   * operator's `sqlite3` or `psql`: to corrupt, inspect or age a row).
   */
  sql<R = Record<string, unknown>>(target: StoreTarget, text: string, values?: readonly unknown[]): Promise<R[]>;
}

/** The run's PostgreSQL superuser URL (vitest global setup: packages/e2e/src/global-setup.ts). */
function adminUrl(): string {
  return inject("postgresUrl");
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** `?`-placeholders (SQLite style, as the tests write them) as `$1, $2…` for PostgreSQL. */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

class SqliteEngine implements StoreEngine {
  readonly dialect = "sqlite" as const;
  #dir: TempDir | undefined;
  #count = 0;

  target(): Promise<StoreTarget> {
    this.#dir ??= tempDir("contract");
    const directory = this.#dir.file(`store-${++this.#count}`);
    mkdirSync(directory, { mode: 0o700 });
    return Promise.resolve({ path: join(directory, "pier.db") });
  }

  cleanTarget(): Promise<StoreTarget> {
    return this.target();
  }

  async open(target?: StoreTarget): Promise<Store & AsyncDisposable> {
    return openStore(target ?? (await this.cleanTarget()));
  }

  async sql<R>(target: StoreTarget, text: string, values: readonly unknown[] = []): Promise<R[]> {
    if (!("path" in target)) throw new Error("the SQLite engine got a PostgreSQL target");
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(target.path);
    try {
      const statement = db.prepare(text);
      // all() runs any statement; rows only for those that return some.
      return statement.all(...(values as never[])) as R[];
    } finally {
      db.close();
    }
  }

  async dispose(): Promise<void> {
    await this.#dir?.[Symbol.asyncDispose]();
    this.#dir = undefined;
  }
}

class PostgresEngine implements StoreEngine {
  readonly dialect = "postgres" as const;
  /** The describe's database (created in beforeAll, dropped in afterAll). */
  #databaseUrl: string | undefined;
  #databaseName: string | undefined;
  #schemas: string[] = [];
  /** The migrated schema each test's first `target()` empties and reuses. */
  #shared: string | undefined;
  #sharedUsed = false;

  async create(prefix: string): Promise<void> {
    const name = `${prefix}_${randomBytes(5).toString("hex")}`;
    await withClient(adminUrl(), (client) => client.query(`CREATE DATABASE ${name}`));
    const url = new URL(adminUrl());
    url.pathname = `/${name}`;
    this.#databaseUrl = url.toString();
    this.#databaseName = name;
  }

  #url(): string {
    if (this.#databaseUrl === undefined) throw new Error("the PostgreSQL engine is used outside its describe block");
    return this.#databaseUrl;
  }

  #targetOf(schema: string): StoreTarget {
    const url = new URL(this.#url());
    url.searchParams.set("options", `-c search_path=${schema}`);
    return { url: url.toString() };
  }

  async cleanTarget(): Promise<StoreTarget> {
    if (this.#sharedUsed) return this.target();
    this.#sharedUsed = true;
    const shared = this.#shared;
    if (shared === undefined || !(await this.#empty(shared))) {
      // First use, or a test left the schema at another version: start over with a new one.
      if (shared !== undefined) await withClient(this.#url(), (client) => client.query(`DROP SCHEMA ${shared} CASCADE`));
      this.#shared = undefined;
      const schema = `shared_${randomBytes(5).toString("hex")}`;
      await withClient(this.#url(), (client) => client.query(`CREATE SCHEMA ${schema}`));
      this.#shared = schema;
      return this.#targetOf(schema);
    }
    return this.#targetOf(shared);
  }

  /**
   * Empties the shared schema's tables (migrating a new schema costs ~0.5 s, emptying ~0.1 s);
   * false when its schema is not at this build's version, so it must be replaced.
   */
  async #empty(schema: string): Promise<boolean> {
    return withClient(this.#url(), async (client) => {
      const tables = (await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = $1", [schema])).rows.map((row) => row.name);
      if (!tables.includes("schema_migrations")) return tables.length === 0;
      const { rows } = await client.query<{ version: string | null }>(`SELECT max(version) AS version FROM ${schema}.schema_migrations`);
      if (Number(rows[0]?.version) !== latestSchemaVersion(postgresMigrations)) return false;
      const data = tables.filter((name) => name !== "schema_migrations").map((name) => `${schema}.${name}`);
      if (data.length > 0) await client.query(`TRUNCATE ${data.join(", ")} RESTART IDENTITY CASCADE`);
      return true;
    });
  }

  async target(): Promise<StoreTarget> {
    const schema = `s_${randomBytes(5).toString("hex")}`;
    await withClient(this.#url(), (client) => client.query(`CREATE SCHEMA ${schema}`));
    this.#schemas.push(schema);
    return this.#targetOf(schema);
  }

  async open(target?: StoreTarget): Promise<Store & AsyncDisposable> {
    return openStore(target ?? (await this.cleanTarget()));
  }

  async sql<R>(target: StoreTarget, text: string, values: readonly unknown[] = []): Promise<R[]> {
    if (!("url" in target)) throw new Error("the PostgreSQL engine got a SQLite target");
    return withClient(target.url, async (client) => (await client.query(numbered(text), [...values])).rows as R[]);
  }

  /** Drops the schemas of the test that just ended (their stores are closed by then). */
  async dropSchemas(): Promise<void> {
    this.#sharedUsed = false;
    const schemas = this.#schemas;
    this.#schemas = [];
    if (schemas.length === 0 || this.#databaseUrl === undefined) return;
    await withClient(this.#databaseUrl, (client) => client.query(`DROP SCHEMA ${schemas.join(", ")} CASCADE`));
  }

  async dispose(): Promise<void> {
    const name = this.#databaseName;
    this.#databaseUrl = undefined;
    this.#databaseName = undefined;
    if (name !== undefined) await withClient(adminUrl(), (client) => client.query(`DROP DATABASE ${name} WITH (FORCE)`));
  }
}

/**
 * The store's contract suite: runs `body` twice, as `title [sqlite]` on SQLite files and as
 * `title [postgres]` on the run's real PostgreSQL (one database per describe, a schema per
 * `engine.target()`, one reused and emptied for `engine.cleanTarget()`), so every store test
 * holds for both engines.
 *
 * @example
 * describeOnEngines("environments", (engine) => {
 *   it("creates", async () => {
 *     await using store = await engine.open();
 *     expect((await store.environments.create({ name: "e", type: "edge-agent" })).id).toBe(1);
 *   });
 * });
 */
export function describeOnEngines(title: string, body: (engine: StoreEngine) => void): void {
  describe(`${title} [sqlite]`, () => {
    const engine = new SqliteEngine();
    afterAll(() => engine.dispose());
    body(engine);
  });
  describe(`${title} [postgres]`, () => {
    const engine = new PostgresEngine();
    beforeAll(() => engine.create("contract"));
    afterEach(() => engine.dropSchemas());
    afterAll(() => engine.dispose());
    body(engine);
  });
}
