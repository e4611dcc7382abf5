import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { type Migration, applyMigrations, latestSchemaVersion, migrations } from "./migrations.ts";
import { SqliteStore } from "./sqlite-store.ts";
import { sampleSnapshot } from "./snapshot.testkit.ts";
import { tempDir } from "./temp-dir.testkit.ts";
import { summarizeDockerSnapshot } from "../docker/docker-summary.ts";

function appliedVersions(path: string): Array<{ version: number; applied_at: number }> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all() as Array<{ version: number; applied_at: number }>;
  } finally {
    db.close();
  }
}

function tables(db: DatabaseSync): string[] {
  return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((row) => String(row["name"]));
}

describe("migrations", () => {
  it("are numbered 1, 2, 3… so the order cannot be wrong", () => {
    expect(migrations.map((migration) => migration.version)).toEqual(migrations.map((_, index) => index + 1));
    expect(latestSchemaVersion()).toBe(migrations.length);
  });

  it("apply once at first open and not again on reopen", async () => {
    await using dir = tempDir("migrations");
    const path = dir.file("pier.db");
    await (await SqliteStore.open(path)).close();
    const first = appliedVersions(path);
    expect(first.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));

    await (await SqliteStore.open(path)).close();
    expect(appliedVersions(path)).toEqual(first);

    const db = new DatabaseSync(path);
    expect(applyMigrations(db)).toEqual([]);
    expect(tables(db)).toEqual(["agent_update_progress", "agent_update_schedules", "api_tokens", "audit_events", "cluster_files", "crl_numbers", "device_certificates", "edge_group_environments", "edge_group_requests", "edge_group_tags", "edge_groups", "edge_job_environments", "edge_job_groups", "edge_job_tasks", "edge_jobs", "edge_sessions", "edge_stack_groups", "edge_stack_registries", "edge_stack_rollouts", "edge_stack_status", "edge_stack_targets", "edge_stack_versions", "edge_stacks", "environment_tags", "environments", "pki_rotation", "registries", "replicas", "revoked_logins", "schema_migrations", "settings", "snapshots", "tags", "team_edge_groups", "team_members", "teams", "users"]);
    db.close();
  });

  it("bring a version-1 database to the latest version, keeping its data", async () => {
    await using dir = tempDir("migrations");
    const path = dir.file("pier.db");
    const v1 = new DatabaseSync(path);
    expect(applyMigrations(v1, migrations.slice(0, 1))).toEqual([1]);
    v1.prepare("INSERT INTO environments (name, type, edge_id, edge_key_environment, user_trusted, created_at) VALUES (?, ?, ?, 0, 1, ?)").run("edge-1", "edge-agent", "edge-1", Date.now());
    expect(tables(v1)).not.toContain("snapshots");
    v1.close();

    await using store = await SqliteStore.open(path);
    expect(appliedVersions(path).map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
    const environment = await store.environments.getByEdgeId("edge-1");
    expect(environment).toMatchObject({ id: 1, name: "edge-1", userTrusted: true });
    const at = new Date("2026-03-01T10:00:00.000Z");
    await store.snapshots.put(1, sampleSnapshot(), at, summarizeDockerSnapshot(sampleSnapshot()));
    expect(await store.snapshots.get(1)).toEqual({ at, snapshot: sampleSnapshot() });
    await store.environments.delete(1);
    expect(await store.snapshots.get(1)).toBeNull();
  });

  it("roll back every step of a run when one fails", async () => {
    await using dir = tempDir("migrations");
    const path = dir.file("pier.db");
    await (await SqliteStore.open(path)).close();
    const broken: Migration[] = [
      ...migrations,
      { version: migrations.length + 1, name: "good step", sql: "CREATE TABLE extra (a TEXT) STRICT" },
      { version: migrations.length + 2, name: "bad step", sql: "ALTER TABLE no_such_table ADD COLUMN b TEXT" },
    ];
    const db = new DatabaseSync(path);
    expect(() => applyMigrations(db, broken)).toThrow(expect.objectContaining({ code: "store_failed" }));
    expect(() => applyMigrations(db, broken)).toThrow(/migration \d+ \("bad step"\) failed: no such table: no_such_table\. Nothing was changed\./);
    expect(db.isTransaction).toBe(false);
    expect(tables(db)).not.toContain("extra");
    db.close();
    expect(appliedVersions(path).map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
  });

  it("refuse a list with a gap, before touching the database", () => {
    const db = new DatabaseSync(":memory:");
    expect(() => applyMigrations(db, [{ version: 2, name: "skips one", sql: "" }])).toThrow(/has version 2; expected 1/);
    expect(tables(db)).toEqual([]);
    db.close();
  });

  it("refuse a database written by a newer Pier, saying what to do", async () => {
    await using dir = tempDir("migrations");
    const path = dir.file("pier.db");
    await (await SqliteStore.open(path)).close();
    const db = new DatabaseSync(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(99, "from the future", Date.now());
    db.close();

    const failure = SqliteStore.open(path);
    await expect(failure).rejects.toMatchObject({
      name: "ServerError",
      code: "store_failed",
      details: { schemaVersion: 99, supportedVersion: latestSchemaVersion() },
    });
    await expect(failure).rejects.toThrow(`The database is at schema version 99, but this Pier knows versions up to ${latestSchemaVersion()}: it was written by a newer Pier.`);
    // The refusal changed nothing.
    expect(appliedVersions(path).at(-1)?.version).toBe(99);
  });
});
