import { expect, it } from "vitest";
import { type StoreTarget, openDatabase, sqliteConnectionOf } from "./database.ts";
import { type Migration, applyMigrations, applyPostgresMigrations, migrations, postgresMigrations } from "./migrations.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

/** Roles, ended sessions and access-token scopes, on SQLite and on PostgreSQL (store-engines.testkit.ts). */
describeOnEngines("users and roles", (engine) => {
  async function withStore(test: (store: Store, target: StoreTarget) => Promise<void>): Promise<void> {
    const target = await engine.cleanTarget();
    await using store = await engine.open(target);
    await test(store, target);
  }
  const inADay = () => new Date(Date.now() + 86_400_000);

  it("keeps each user's role, lists users, and refuses an unknown role", () =>
    withStore(async (store) => {
      await store.users.create({ username: "admin", passwordHash: "x" });
      await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
      await store.users.create({ username: "hugo", passwordHash: "x", role: "helpdesk" });
      expect((await store.users.list()).map((u) => [u.username, u.role, u.sessionsValidAfter])).toEqual([
        ["admin", "admin", null],
        ["olga", "operator", null],
        ["hugo", "helpdesk", null],
      ]);
      await expect(store.users.create({ username: "root", passwordHash: "x", role: "root" as "admin" })).rejects.toMatchObject({ code: "bad_request", field: "role" });
      await expect(store.users.setRole(2, "root" as "admin")).rejects.toMatchObject({ code: "bad_request", field: "role" });
      expect(await store.users.setRole(3, "operator")).toMatchObject({ id: 3, role: "operator" });
      expect(await store.users.setRole(99, "operator")).toBeNull();
    }));

  it("never leaves the store without an administrator, even when two demote each other at once", () =>
    withStore(async (store, target) => {
      const first = await store.users.create({ username: "admin", passwordHash: "x" });
      const olga = await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
      await expect(store.users.setRole(first.id, "operator")).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("last administrator") as unknown });
      await expect(store.users.delete(first.id)).rejects.toMatchObject({ code: "conflict" });
      expect((await store.users.get(first.id))?.role).toBe("admin");

      await store.users.setRole(olga.id, "admin");
      await using other = await engine.open(target);
      const results = await Promise.allSettled([store.users.setRole(first.id, "helpdesk"), other.users.setRole(olga.id, "helpdesk")]);
      expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
      expect((await store.users.list()).filter((u) => u.role === "admin")).toHaveLength(1);
    }));

  it("deletes a user with their access tokens", () =>
    withStore(async (store) => {
      await store.users.create({ username: "admin", passwordHash: "x" });
      const olga = await store.users.create({ username: "olga", passwordHash: "x", role: "operator" });
      await store.apiTokens.create({ userId: olga.id, description: "ci", tokenHash: "aa".repeat(32), prefix: "pier_aaaaaaaa", scope: "operator", expiresAt: inADay() });
      expect(await store.users.delete(olga.id)).toBe(true);
      expect(await store.users.delete(olga.id)).toBe(false);
      expect(await store.apiTokens.findByHash("aa".repeat(32))).toBeNull();
    }));

  it("records when a user's sessions were ended", () =>
    withStore(async (store) => {
      const user = await store.users.create({ username: "admin", passwordHash: "x" });
      const at = new Date("2026-12-07T10:00:01.000Z");
      expect(await store.users.endSessions(user.id, at)).toBe(true);
      expect((await store.users.get(user.id))?.sessionsValidAfter).toEqual(at);
      expect((await store.users.getByUsername("ADMIN"))?.sessionsValidAfter).toEqual(at);
      expect(await store.users.endSessions(99, at)).toBe(false);
    }));

  it("keeps each access token's scope and expiry, and refuses an unknown scope", () =>
    withStore(async (store) => {
      const user = await store.users.create({ username: "admin", passwordHash: "x" });
      const expiresAt = new Date("2027-06-01T00:00:00.123Z");
      const token = await store.apiTokens.create({ userId: user.id, description: "dashboard", tokenHash: "bb".repeat(32), prefix: "pier_bbbbbbbb", scope: "helpdesk", expiresAt });
      expect(token).toMatchObject({ scope: "helpdesk", expiresAt });
      expect(await store.apiTokens.findByHash("bb".repeat(32))).toMatchObject({ scope: "helpdesk", expiresAt });
      await expect(store.apiTokens.create({ userId: user.id, description: "x", tokenHash: "cc".repeat(32), prefix: "pier_cccccccc", scope: "root" as "admin", expiresAt })).rejects.toMatchObject({ code: "bad_request", field: "scope" });
      await expect(store.apiTokens.create({ userId: user.id, description: "x", tokenHash: "dd".repeat(32), prefix: "pier_dddddddd", scope: "admin", expiresAt: new Date(Number.NaN) })).rejects.toMatchObject({ code: "bad_request" });
    }));

  it("gives access tokens made before roles the administrator scope and a year to live (migration 18)", async () => {
    const target = await engine.target();
    const database = await openDatabase(target);
    try {
      const sqlite = sqliteConnectionOf(database);
      const apply = (list: readonly Migration[]) => (sqlite ? Promise.resolve(applyMigrations(sqlite.connection, list)) : applyPostgresMigrations(database.db, list));
      const list = sqlite ? migrations : postgresMigrations;
      await apply(list.filter((step) => step.version < 18));
      await engine.sql(target, "INSERT INTO users (username, password_hash, role, created_at) VALUES ('admin', 'x', 'admin', 1)");
      await engine.sql(target, `INSERT INTO api_tokens (user_id, description, token_hash, prefix, created_at) VALUES (1, 'ci', '${"ee".repeat(32)}', 'pier_eeeeeeee', 1)`);
      expect(await apply(list)).toEqual([18, ...list.filter((step) => step.version > 18).map((step) => step.version)]);
    } finally {
      await database.close();
    }
    await using store = await engine.open(target);
    const token = await store.apiTokens.findByHash("ee".repeat(32));
    expect(token?.scope).toBe("admin");
    expect(Math.abs((token?.expiresAt.getTime() ?? 0) - (Date.now() + 365 * 86_400_000))).toBeLessThan(120_000);
    expect(await store.users.get(1)).toMatchObject({ role: "admin", sessionsValidAfter: null });
  });
});
