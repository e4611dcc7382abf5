import { describe, expect, it } from "vitest";
import { summarizeDockerSnapshot } from "../docker/docker-summary.ts";
import { type StoreTarget, openDatabase, sqliteConnectionOf } from "./database.ts";
import { likeSubstring, pageQuery } from "./environment-page.ts";
import { applyMigrations, applyPostgresMigrations, migrations, postgresMigrations } from "./migrations.ts";
import { sampleSnapshot } from "./snapshot.testkit.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

/** The engine's store, closed at the end of the test's scope. */
async function opened(engine: StoreEngine, target?: StoreTarget): Promise<Store & AsyncDisposable> {
  const store = await engine.open(target);
  return Object.assign(store, { [Symbol.asyncDispose]: () => store.close() });
}

const names = (page: { items: { name: string }[] }) => page.items.map((item) => item.name);

async function createNamed(store: Store, list: readonly string[]) {
  const created = [];
  for (const name of list) created.push(await store.environments.create({ name, type: "edge-agent" }));
  return created;
}

/** A snapshot with one healthy and one unhealthy container beside the sample's four. */
function healthSnapshot() {
  const base = sampleSnapshot();
  return sampleSnapshot({
    containers: [
      ...base.containers,
      { id: "c5".repeat(32), names: ["/api"], image: "api:2", state: "running", status: "Up 5 minutes (healthy)", created: 1_740_000_400 },
      { id: "c6".repeat(32), names: ["/worker"], image: "worker:2", state: "running", status: "Up 5 minutes (unhealthy)", created: 1_740_000_500 },
      { id: "c7".repeat(32), names: ["/paused"], image: "worker:2", state: "paused", status: "Up 5 minutes (Paused)", created: 1_740_000_600 },
    ],
  });
}

describe("likeSubstring", () => {
  it("escapes the LIKE wildcards and the escape character itself", () => {
    expect(likeSubstring("50%_off\\x")).toBe("%50\\%\\_off\\\\x%");
    expect(likeSubstring("plain")).toBe("%plain%");
  });
});

describeOnEngines("environments.page", (engine) => {
  it("pages a sorted list without overlap, counts every match, and breaks ties by id", async () => {
    await using store = await opened(engine);
    const created = await createNamed(store, ["delta", "Alpha", "charlie", "bravo", "alpha", "Echo", "foxtrot"]);
    const all = await store.environments.page({ sort: "name" });
    // Case-insensitive by name; the two "alpha"s keep their id order.
    expect(names(all)).toEqual(["Alpha", "alpha", "bravo", "charlie", "delta", "Echo", "foxtrot"]);
    expect(all.total).toBe(7);

    const first = await store.environments.page({ sort: "name", start: 0, limit: 3 });
    const second = await store.environments.page({ sort: "name", start: 3, limit: 3 });
    const third = await store.environments.page({ sort: "name", start: 6, limit: 3 });
    expect([first, second, third].map((page) => page.total)).toEqual([7, 7, 7]);
    expect([...names(first), ...names(second), ...names(third)]).toEqual(names(all));
    expect(names(third)).toEqual(["foxtrot"]);
    expect((await store.environments.page({ start: 7, limit: 3 })).items).toEqual([]);
    // start without limit: the rest.
    expect(names(await store.environments.page({ sort: "name", start: 5 }))).toEqual(["Echo", "foxtrot"]);

    const descending = await store.environments.page({ sort: "name", order: "desc", limit: 3 });
    expect(names(descending)).toEqual(["foxtrot", "Echo", "delta"]);
    expect((await store.environments.page({})).items.map((item) => item.id)).toEqual(created.map((environment) => environment.id));
    expect((await store.environments.page({ sort: "createdAt", order: "desc" })).items.map((item) => item.id)).toEqual(created.map((environment) => environment.id).reverse());
  });

  it("searches name, EDGE_ID and source address case-insensitively; %, _ and \\ match only themselves", async () => {
    await using store = await opened(engine);
    const [percent, underscore, backslash, plain] = await createNamed(store, ["sale 50% off", "edge_node", "path\\to", "EdgeXnode"]);
    if (!percent || !underscore || !backslash || !plain) throw new Error("not created");
    await store.environments.update(plain.id, { edgeId: "DEV-7f3a", sourceAddress: "10.20.30.40" });
    const search = async (text: string) => names(await store.environments.page({ search: text, sort: "id" }));
    // Precondition: an unescaped "_" or "%" would have matched more than these.
    expect(await search("e_n")).toEqual(["edge_node"]);
    expect(await search("%")).toEqual(["sale 50% off"]);
    expect(await search("_")).toEqual(["edge_node"]);
    expect(await search("\\")).toEqual(["path\\to"]);
    expect(await search("EDGE")).toEqual(["edge_node", "EdgeXnode"]);
    expect(await search("dev-7F3A")).toEqual(["EdgeXnode"]);
    expect(await search("20.30")).toEqual(["EdgeXnode"]);
    expect(await search("nothing like it")).toEqual([]);
    expect((await store.environments.page({ search: "edge", limit: 1 })).total).toBe(2);
  });

  it("filters the Waiting Room, the Home list and trust, each with its own total", async () => {
    await using store = await opened(engine);
    const [waiting, unused, trusted, waitingToo] = await createNamed(store, ["waiting", "unused key", "trusted", "waiting too"]);
    if (!waiting || !unused || !trusted || !waitingToo) throw new Error("not created");
    await store.environments.update(waiting.id, { edgeId: "w-1", userTrusted: false });
    await store.environments.update(waitingToo.id, { edgeId: "w-2", userTrusted: false });
    await store.environments.update(unused.id, { userTrusted: false });
    await store.environments.update(trusted.id, { edgeId: "t-1", userTrusted: true });
    const room = await store.environments.page({ waiting: true, sort: "edgeId", limit: 1 });
    expect(room).toMatchObject({ total: 2, items: [{ name: "waiting" }] });
    expect(names(await store.environments.page({ waiting: false }))).toEqual(["unused key", "trusted"]);
    expect(names(await store.environments.page({ untrusted: true }))).toEqual(["waiting", "unused key", "waiting too"]);
    expect(names(await store.environments.page({ untrusted: false }))).toEqual(["trusted"]);
    expect((await store.environments.page({ untrusted: true, waiting: true, search: "too" })).total).toBe(1);
  });

  it("sorts by EDGE_ID and by last check-in with the missing ones first, and filters by the heartbeat rule", async () => {
    await using store = await opened(engine);
    const [never, recent, old, custom] = await createNamed(store, ["never", "recent", "old", "slow interval"]);
    if (!never || !recent || !old || !custom) throw new Error("not created");
    const now = new Date("2026-06-01T12:00:00Z");
    await store.environments.update(recent.id, { edgeId: "b", lastCheckInAt: new Date(now.getTime() - 10_000) });
    await store.environments.update(old.id, { edgeId: "a", lastCheckInAt: new Date(now.getTime() - 31_000) });
    // 2 × 60 + 20 = 140 s allowed for this one.
    await store.environments.update(custom.id, { edgeId: "c", checkinIntervalSeconds: 60, lastCheckInAt: new Date(now.getTime() - 100_000) });
    expect(names(await store.environments.page({ sort: "edgeId" }))).toEqual(["never", "old", "recent", "slow interval"]);
    expect(names(await store.environments.page({ sort: "lastCheckIn" }))).toEqual(["never", "slow interval", "old", "recent"]);
    const alive = await store.environments.page({ heartbeat: { alive: true, now, defaultIntervalSeconds: 5 } });
    // 2 × 5 + 20 = 30 s: 10 s ago is up, 31 s ago is down.
    expect(names(alive)).toEqual(["recent", "slow interval"]);
    expect(names(await store.environments.page({ heartbeat: { alive: false, now, defaultIntervalSeconds: 5 } }))).toEqual(["never", "old"]);
    expect(names(await store.environments.page({ heartbeat: { alive: true, now, defaultIntervalSeconds: 10 } }))).toEqual(["recent", "old", "slow interval"]);
  });

  it("carries each environment's Docker summary, never its snapshot", async () => {
    await using store = await opened(engine);
    const [reported, silent] = await createNamed(store, ["reported", "silent"]);
    if (!reported || !silent) throw new Error("not created");
    const snapshot = healthSnapshot();
    const at = new Date("2026-06-01T12:00:00.123Z");
    await store.snapshots.put(reported.id, snapshot, at, summarizeDockerSnapshot(snapshot));
    const page = await store.environments.page({ sort: "name" });
    expect(page.items[0]?.docker).toEqual({
      at,
      summary: { dockerVersion: "27.3.1", runningContainers: 4, stoppedContainers: 2, healthyContainers: 1, unhealthyContainers: 1, images: 3, volumes: 1, cpus: 4, memoryBytes: 8_254_390_272 },
    });
    expect(page.items[1]?.docker).toBeNull();
    expect(JSON.stringify(page)).not.toContain("postgres:17");
  });

  it("gives the newest certificate and how many environments share a client certificate, for the page only", async () => {
    const target = await engine.target();
    await using store = await opened(engine, target);
    const [first, second, third] = await createNamed(store, ["first", "second", "third"]);
    if (!first || !second || !third) throw new Error("not created");
    const certificate = (fingerprint: string) => ({ subject: "CN=edge-client", serialNumber: "01", fingerprintSha256: fingerprint, notAfter: new Date("2027-01-01T00:00:00Z"), issuer: "CN=Operator CA" });
    await store.environments.update(first.id, { clientCertificate: certificate("aa".repeat(32)) });
    await store.environments.update(second.id, { clientCertificate: certificate("aa".repeat(32)) });
    await store.environments.update(third.id, { clientCertificate: certificate("bb".repeat(32)) });
    const record = (serial: string, issuedAt: number) =>
      engine.sql(
        target,
        "INSERT INTO device_certificates (serial, environment_id, edge_id, subject, issuer, ca_spki_sha256, spki_sha256, not_before, not_after, issued_at, reason) VALUES (?, ?, 'e-1', 'CN=e-1', 'CN=Pier CA', ?, ?, ?, ?, ?, 'enrollment')",
        [serial, first.id, "cc".repeat(32), "dd".repeat(32), issuedAt, issuedAt + 86_400_000, issuedAt],
      );
    await record("0a", 1_700_000_000_000);
    await record("0b", 1_700_000_500_000);
    const page = await store.environments.page({ sort: "id", limit: 1 });
    expect(page.items[0]).toMatchObject({ name: "first", clientCertificateSharedBy: 2, newestCertificate: { serial: "0b", revokedAt: null, notAfter: new Date(1_700_000_500_000 + 86_400_000) } });
    const rest = await store.environments.page({ sort: "id", start: 1 });
    expect(rest.items.map((item) => [item.name, item.clientCertificateSharedBy, item.newestCertificate])).toEqual([
      ["second", 2, null],
      ["third", 1, null],
    ]);
  });

  it("counts the environments sharing one client certificate (GET /api/endpoints/{id}) in one query", async () => {
    await using store = await opened(engine);
    const [first, second, third] = await createNamed(store, ["first", "second", "third"]);
    if (!first || !second || !third) throw new Error("not created");
    const certificate = (fingerprint: string) => ({ subject: "CN=edge-client", serialNumber: "01", fingerprintSha256: fingerprint, notAfter: new Date("2027-01-01T00:00:00Z"), issuer: "CN=Operator CA" });
    expect(await store.environments.countSharingCertificate("aa".repeat(32))).toBe(0);
    await store.environments.update(first.id, { clientCertificate: certificate("aa".repeat(32)) });
    await store.environments.update(second.id, { clientCertificate: certificate("aa".repeat(32)) });
    await store.environments.update(third.id, { clientCertificate: certificate("bb".repeat(32)) });
    expect(await store.environments.countSharingCertificate("aa".repeat(32))).toBe(2);
    expect(await store.environments.countSharingCertificate("bb".repeat(32))).toBe(1);
    await store.environments.update(second.id, { clientCertificate: null });
    expect(await store.environments.countSharingCertificate("aa".repeat(32))).toBe(1);
  });

  it("a Home page of 3,000 environments sorted by name walks the name index instead of sorting them all", async () => {
    const target = await engine.target();
    await using store = await opened(engine, target);
    const fill =
      engine.dialect === "sqlite"
        ? "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO environments (name, type, edge_key_environment, user_trusted, created_at) SELECT 'device-' || i, 'edge-agent', 0, 1, i FROM n"
        : "INSERT INTO environments (name, type, edge_key_environment, user_trusted, created_at) SELECT 'device-' || i, 'edge-agent', 0, 1, i FROM generate_series(1, 3000) AS i";
    await engine.sql(target, fill);
    // PostgreSQL plans from statistics (autovacuum gathers them); SQLite here has none.
    if (engine.dialect === "postgres") await engine.sql(target, "ANALYZE");
    expect((await store.environments.page({ waiting: false, limit: 1 })).total).toBe(3000);
    const database = await openDatabase(target);
    try {
      const explain = engine.dialect === "sqlite" ? "EXPLAIN QUERY PLAN " : "EXPLAIN ";
      for (const query of [{ waiting: false }, { waiting: false, search: "device" }]) {
        const compiled = pageQuery(database.db, engine.dialect, { ...query, sort: "name", start: 100, limit: 25 }).compile();
        const plan = JSON.stringify(await engine.sql(target, explain + compiled.sql, compiled.parameters));
        expect(plan).toContain("environments_by_name");
        if (engine.dialect === "sqlite") expect(plan).not.toContain("TEMP B-TREE FOR ORDER BY");
        else expect(plan).not.toMatch(/"Sort /);
      }
    } finally {
      await database.close();
    }
  });

  it("migration 9 summarises snapshots stored before it, as the domain does", async () => {
    const target = await engine.target();
    const snapshot = healthSnapshot();
    const database = await openDatabase(target);
    try {
      const sqlite = sqliteConnectionOf(database);
      if (sqlite) applyMigrations(sqlite.connection, migrations.slice(0, 8));
      else await applyPostgresMigrations(database.db, postgresMigrations.filter((migration) => migration.version <= 8));
    } finally {
      await database.close();
    }
    await engine.sql(target, "INSERT INTO environments (name, type, edge_key_environment, user_trusted, created_at) VALUES ('old', 'edge-agent', 0, 1, 1)");
    await engine.sql(target, "INSERT INTO snapshots (environment_id, collected_at, json) VALUES ((SELECT id FROM environments WHERE name = 'old'), 1700000000000, ?)", [JSON.stringify(snapshot)]);
    await using store = await opened(engine, target);
    const [item] = (await store.environments.page({})).items;
    expect(item?.docker).toEqual({ at: new Date(1_700_000_000_000), summary: summarizeDockerSnapshot(snapshot) });
  });
});
