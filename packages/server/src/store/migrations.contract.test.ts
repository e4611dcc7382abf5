import { expect, it } from "vitest";
import { type SqlDatabase, type StoreTarget, openDatabase, sqliteConnectionOf } from "./database.ts";
import { type Migration, applyMigrations, applyPostgresMigrations, migrations, postgresMigrations } from "./migrations.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";

/**
 * Migrations on both engines (the SQLite-only history, version 1 onwards, is in
 * migrations.test.ts; newer versions and concurrent starts in open-store.contract.test.ts).
 */

/** This engine's list and its runner. */
function runner(database: SqlDatabase): { list: readonly Migration[]; apply: (list: readonly Migration[]) => Promise<number[]> } {
  const sqlite = sqliteConnectionOf(database);
  // The executor turns SQLite's synchronous throw into a rejection, as PostgreSQL's runner has it.
  if (sqlite !== undefined) return { list: migrations, apply: (list) => new Promise((resolve) => resolve(applyMigrations(sqlite.connection, list))) };
  return { list: postgresMigrations, apply: (list) => applyPostgresMigrations(database.db, list) };
}

/** The tables of the store at `target`, by name. */
async function tables(engine: StoreEngine, target: StoreTarget): Promise<string[]> {
  const rows =
    engine.dialect === "sqlite"
      ? await engine.sql<{ name: string }>(target, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      : await engine.sql<{ name: string }>(target, "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename");
  return rows.map((row) => row.name);
}

async function appliedVersions(engine: StoreEngine, target: StoreTarget): Promise<{ version: number; appliedAt: number }[]> {
  const rows = await engine.sql<{ version: number | string; applied_at: number | string }>(target, "SELECT version, applied_at FROM schema_migrations ORDER BY version");
  return rows.map((row) => ({ version: Number(row.version), appliedAt: Number(row.applied_at) }));
}

describeOnEngines("migrations", (engine) => {
  it("leave the same tables on both engines, and apply once: not again on reopen", async () => {
    const target = await engine.target();
    expect(await tables(engine, target)).toEqual([]);
    await (await engine.open(target)).close();
    const first = await appliedVersions(engine, target);
    const list = engine.dialect === "sqlite" ? migrations : postgresMigrations;
    expect(first.map((row) => row.version)).toEqual(list.map((migration) => migration.version));
    expect(await tables(engine, target)).toEqual(["agent_update_progress", "agent_update_schedules", "api_tokens", "audit_events", "cluster_files", "crl_numbers", "device_certificates", "edge_group_environments", "edge_group_requests", "edge_group_tags", "edge_groups", "edge_job_environments", "edge_job_groups", "edge_job_tasks", "edge_jobs", "edge_sessions", "edge_stack_groups", "edge_stack_registries", "edge_stack_rollouts", "edge_stack_status", "edge_stack_targets", "edge_stack_versions", "edge_stacks", "environment_tags", "environments", "pki_rotation", "registries", "replicas", "revoked_logins", "schema_migrations", "settings", "snapshots", "tags", "team_edge_groups", "team_members", "teams", "users"]);

    await (await engine.open(target)).close();
    expect(await appliedVersions(engine, target)).toEqual(first);
  });

  it("roll back every step of a run when one fails, saying which, and change nothing", async () => {
    const target = await engine.target();
    await (await engine.open(target)).close();
    const before = await tables(engine, target);
    const database = await openDatabase(target);
    try {
      const { list, apply } = runner(database);
      const latest = list.at(-1)?.version ?? 0;
      const broken: Migration[] = [
        ...list,
        { version: latest + 1, name: "good step", sql: "CREATE TABLE extra (a TEXT)" },
        { version: latest + 2, name: "bad step", sql: "ALTER TABLE no_such_table ADD COLUMN b TEXT" },
      ];
      const failure = apply(broken);
      await expect(failure).rejects.toMatchObject({ code: "store_failed" });
      await expect(failure).rejects.toThrow(new RegExp(`migration ${latest + 2} \\("bad step"\\) failed: .*no_such_table.*\\. Nothing was changed\\.`));
      expect(await tables(engine, target)).toEqual(before);
      expect((await appliedVersions(engine, target)).at(-1)?.version).toBe(latest);
      // The database is usable afterwards: the same run without the bad step applies.
      expect(await apply(broken.slice(0, -1))).toEqual([latest + 1]);
      expect(await tables(engine, target)).toContain("extra");
    } finally {
      await database.close();
    }
  });
});
