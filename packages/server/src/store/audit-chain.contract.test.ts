import { expect, it } from "vitest";
import { auditEntryHash, auditGenesisHash } from "./audit-chain.ts";
import { verifyStoredAuditChain } from "./audit-verify.ts";
import { openDatabase, sqliteConnectionOf } from "./database.ts";
import { applyMigrations, applyPostgresMigrations, migrations, postgresMigrations } from "./migrations.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";

describeOnEngines("audit hash chain", (engine) => {
  it("links each append to the one before, records the acting user, and verifies", async () => {
    const target = await engine.cleanTarget();
    await using store = await engine.open(target);
    const first = await store.audit.append({ kind: "enrolled", environmentId: 3, edgeId: "edge-a", sourceAddress: "192.0.2.1", detail: { trusted: false } });
    const second = await store.audit.append({ kind: "removed", environmentId: 3, edgeId: "edge-a", detail: { by: "alice" } });
    const third = await store.audit.append({ kind: "tag_created", actor: "bob", detail: { name: "x" } });
    expect(first.prevHash).toBe(auditGenesisHash);
    expect(second.prevHash).toBe(first.hash);
    expect(third.prevHash).toBe(second.hash);
    expect(third.hash).toBe(auditEntryHash(second.hash, third));
    expect([first.actor, second.actor, third.actor]).toEqual([null, "alice", "bob"]);
    // What the store reads back is what append returned, hashes included.
    expect(await store.audit.list()).toEqual([third, second, first]);
    expect(await verifyStoredAuditChain(target)).toEqual({ checked: 3, head: third.hash, firstPrevHash: auditGenesisHash, broken: null });
  });

  it("stays one chain under concurrent appends from one store and from a second one on the same database (another replica)", async () => {
    const target = await engine.cleanTarget();
    await using one = await engine.open(target);
    await using other = await engine.open(target);
    const appended = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? one : other).audit.append({ kind: "refused_tls", sourceAddress: `198.51.100.${i}`, detail: { code: "unknown_ca" } })));
    expect(new Set(appended.map((event) => event.prevHash)).size).toBe(40);
    const found = await verifyStoredAuditChain(target);
    expect(found.broken).toBeNull();
    expect(found.checked).toBe(40);
    expect(found.head).toBe(appended.reduce((last, event) => (event.id > last.id ? event : last)).hash);
  });

  it("pages by filter, newest first, counting all that match", async () => {
    await using store = await engine.open();
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
    await store.audit.append({ kind: "enrolled", at: at(1), environmentId: 1, edgeId: "edge-a" });
    const removed = await store.audit.append({ kind: "removed", at: at(2), environmentId: 1, edgeId: "edge-a", detail: { by: "alice" } });
    const tag = await store.audit.append({ kind: "tag_created", at: at(3), detail: { by: "alice" } });
    await store.audit.append({ kind: "tag_created", at: at(4), detail: { by: "bob" } });
    expect(await store.audit.page({ actor: "alice" })).toEqual({ items: [tag, removed], total: 2 });
    expect((await store.audit.page({ edgeId: "edge-a", kind: "removed" })).items.map((event) => event.id)).toEqual([removed.id]);
    expect((await store.audit.page({ since: at(2), until: at(3) })).items.map((event) => event.id)).toEqual([tag.id, removed.id]);
    const page = await store.audit.page({ start: 1, limit: 2 });
    expect(page.total).toBe(4);
    expect(page.items.map((event) => event.id)).toEqual([tag.id, removed.id]);
    expect(await store.audit.kinds()).toEqual(["enrolled", "removed", "tag_created"]);
    const exported = [];
    for await (const batch of store.audit.export({ kind: "tag_created" })) exported.push(...batch);
    expect(exported.map((event) => event.detail["by"])).toEqual(["alice", "bob"]);
  });

  it("names the entry whose row was changed, and the one after a removed row", async () => {
    const target = await engine.cleanTarget();
    await using store = await engine.open(target);
    const events = [];
    for (let i = 0; i < 4; i++) events.push(await store.audit.append({ kind: "tag_created", detail: { name: `t${i}`, by: "alice" } }));
    const [, second, third] = events;
    if (second === undefined || third === undefined) throw new Error("not appended");
    expect((await verifyStoredAuditChain(target)).broken).toBeNull();

    await engine.sql(target, `UPDATE audit_events SET detail = '{"name":"other","by":"alice"}' WHERE id = ?`, [second.id]);
    const altered = await verifyStoredAuditChain(target);
    expect(altered.broken).toMatchObject({ id: second.id, problem: "altered" });
    expect(altered.checked).toBe(1);

    await engine.sql(target, "DELETE FROM audit_events WHERE id = ?", [second.id]);
    const removed = await verifyStoredAuditChain(target);
    expect(removed.broken).toMatchObject({ id: third.id, problem: "unlinked" });
    expect(removed.broken?.message).toContain("removed");
  });

  it("migration 17 chains the entries already there, in id order, taking the actor from their detail", async () => {
    const target = await engine.target();
    const database = await openDatabase(target);
    try {
      const sqlite = sqliteConnectionOf(database);
      const before = (list: typeof migrations) => list.filter((step) => step.version < 17);
      if (sqlite === undefined) await applyPostgresMigrations(database.db, before(postgresMigrations));
      else applyMigrations(sqlite.connection, before(migrations));
      for (const [at, kind, detail] of [
        [1000, "enrolled", '{"trusted":false}'],
        [3000, "removed", '{"by":"alice"}'],
        [2000, "mtls_uploaded", '{"user":"bob","names":["é"]}'],
      ] as const) {
        await engine.sql(target, "INSERT INTO audit_events (at, environment_id, edge_id, kind, source_address, detail) VALUES (?, NULL, NULL, ?, NULL, ?)", [at, kind, detail]);
      }
    } finally {
      await database.close();
    }
    await using store = await engine.open(target);
    const found = await verifyStoredAuditChain(target);
    expect(found).toMatchObject({ checked: 3, broken: null });
    const events = (await store.audit.list()).sort((a, b) => a.id - b.id);
    expect(events.map((event) => event.actor)).toEqual([null, "alice", "bob"]);
    expect(events[0]?.prevHash).toBe(auditGenesisHash);
    // Appends continue the migrated chain.
    const next = await store.audit.append({ kind: "tag_created", detail: {} });
    expect(next.prevHash).toBe(found.head);
    expect(await verifyStoredAuditChain(target)).toMatchObject({ checked: 4, head: next.hash, broken: null });
  });
});
