import { setTimeout as sleep } from "node:timers/promises";
import { expect, it, onTestFinished } from "vitest";
import { maxClusterFileBytes } from "./cluster-store.ts";
import type { StoreTarget } from "./database.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine, target?: StoreTarget): Promise<Store> {
  const store = await engine.open(target);
  onTestFinished(() => store.close());
  return store;
}

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6) + seconds * 1000);

/** Runs under `store.cluster.withLock(name)`, recording when it held the lock in `timeline`. */
function holdLock(store: Store, name: string, who: string, timeline: string[], holdMs = 60): Promise<string> {
  return store.cluster.withLock(name, async () => {
    timeline.push(`${who} in`);
    await sleep(holdMs);
    timeline.push(`${who} out`);
    return who;
  });
}

/** Resolves once `condition` holds (checked every 20 ms); rejects after 10 s saying what it waited for. */
async function eventually(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Precondition of the exclusion tests: holders of two different locks are inside at the same time (else this times out). */
async function holdTogether(first: Store, second: Store, names: [string, string]): Promise<void> {
  let inside = 0;
  const hold = (store: Store, name: string) =>
    store.cluster.withLock(name, async () => {
      inside += 1;
      await eventually(`both holders of ${names.join(" and ")} inside at once`, () => inside === 2);
    });
  await Promise.all([hold(first, names[0]), hold(second, names[1])]);
}

describeOnEngines("cluster store", (engine) => {
  it("inserts a replica's row, refreshes it on the next touch, and lists the replicas by start", async () => {
    const store = await opened(engine);
    expect(await store.cluster.replicas()).toEqual([]);
    await store.cluster.touchReplica({ id: "r-b", name: "b", peerAddress: "10.0.0.2:9445", startedAt: at(5) }, at(6));
    await store.cluster.touchReplica({ id: "r-a", name: "a", peerAddress: "10.0.0.1:9445", startedAt: at(1) }, at(2));
    await store.cluster.touchReplica({ id: "r-a", name: "a", peerAddress: "10.0.0.9:9445", startedAt: at(1) }, at(4));
    expect(await store.cluster.replicas()).toEqual([
      { id: "r-a", name: "a", peerAddress: "10.0.0.9:9445", startedAt: at(1), seenAt: at(4) },
      { id: "r-b", name: "b", peerAddress: "10.0.0.2:9445", startedAt: at(5), seenAt: at(6) },
    ]);
    expect(await store.cluster.getReplica("r-b")).toEqual({ id: "r-b", name: "b", peerAddress: "10.0.0.2:9445", startedAt: at(5), seenAt: at(6) });
    expect(await store.cluster.getReplica("r-none")).toBeNull();
  });

  it("hands a device's session to the replica whose session is newer, and lets only that session release it", async () => {
    const store = await opened(engine);
    const { id } = await store.environments.create({ name: "edge-1", type: "edge-agent" });
    expect(await store.cluster.sessionOwner(id)).toBeNull();
    expect(await store.cluster.claimSession(id, "r-a", at(1))).toBe(true);
    expect(await store.cluster.sessionOwner(id)).toEqual({ environmentId: id, replicaId: "r-a", openedAt: at(1) });
    expect(await store.cluster.claimSession(id, "r-b", at(2))).toBe(true);
    expect(await store.cluster.sessionOwner(id)).toEqual({ environmentId: id, replicaId: "r-b", openedAt: at(2) });
    // A's session ending late must not erase B's claim.
    expect(await store.cluster.releaseSession(id, "r-a", at(1))).toBe(false);
    expect(await store.cluster.sessionOwner(id)).toMatchObject({ replicaId: "r-b" });
    // Nor may an older session of B's own (its release of a session replaced since).
    expect(await store.cluster.releaseSession(id, "r-b", at(1))).toBe(false);
    expect(await store.cluster.releaseSession(id, "r-b", at(2))).toBe(true);
    expect(await store.cluster.sessionOwner(id)).toBeNull();
    expect(await store.cluster.releaseSession(id, "r-b", at(2))).toBe(false);
  });

  it("ignores a claim that lands after a newer session's (the race), so the old holder's release leaves the device connected", async () => {
    const store = await opened(engine);
    const { id } = await store.environments.create({ name: "edge-1", type: "edge-agent" });
    // The device's session on A opened at 1 s; it reconnected to B at 2 s and B's claim landed first.
    expect(await store.cluster.claimSession(id, "r-b", at(2))).toBe(true);
    // A's slow claim arrives now: refused, the row still names B's session.
    expect(await store.cluster.claimSession(id, "r-a", at(1))).toBe(false);
    expect(await store.cluster.sessionOwner(id)).toEqual({ environmentId: id, replicaId: "r-b", openedAt: at(2) });
    // A's session ends: its release finds nothing of its own; B still holds the device.
    expect(await store.cluster.releaseSession(id, "r-a", at(1))).toBe(false);
    expect(await store.cluster.sessionOwner(id)).toEqual({ environmentId: id, replicaId: "r-b", openedAt: at(2) });
    // The same replica claims again whatever the time (its own sessions are written in order).
    expect(await store.cluster.claimSession(id, "r-b", at(2))).toBe(true);
    expect(await store.cluster.claimSession(id, "r-b", at(3))).toBe(true);
    expect(await store.cluster.sessionOwner(id)).toMatchObject({ replicaId: "r-b", openedAt: at(3) });
  });

  it("re-asserts every held session in one call: writes the lost and older rows, leaves newer sessions and removed environments alone", async () => {
    const store = await opened(engine);
    const lost = await store.environments.create({ name: "lost", type: "edge-agent" });
    const older = await store.environments.create({ name: "older", type: "edge-agent" });
    const newer = await store.environments.create({ name: "newer", type: "edge-agent" });
    const same = await store.environments.create({ name: "same", type: "edge-agent" });
    const removed = await store.environments.create({ name: "removed", type: "edge-agent" });
    expect(await store.cluster.claimSession(older.id, "r-b", at(1))).toBe(true);
    expect(await store.cluster.claimSession(newer.id, "r-b", at(9))).toBe(true);
    expect(await store.cluster.claimSession(same.id, "r-a", at(5))).toBe(true);
    expect(await store.environments.delete(removed.id)).toBe(true);
    const held = [lost, older, newer, same, removed].map((environment) => ({ environmentId: environment.id, openedAt: at(5) }));
    expect(await store.cluster.reassertSessions("r-a", held)).toEqual([lost.id, older.id].sort((a, b) => a - b));
    expect(await store.cluster.sessionOwner(lost.id)).toEqual({ environmentId: lost.id, replicaId: "r-a", openedAt: at(5) });
    expect(await store.cluster.sessionOwner(older.id)).toMatchObject({ replicaId: "r-a", openedAt: at(5) });
    expect(await store.cluster.sessionOwner(newer.id)).toMatchObject({ replicaId: "r-b", openedAt: at(9) });
    expect(await store.cluster.sessionOwner(removed.id)).toBeNull();
    // Nothing left to heal: nothing written.
    expect(await store.cluster.reassertSessions("r-a", held)).toEqual([]);
    expect(await store.cluster.reassertSessions("r-a", [])).toEqual([]);
    // Past one statement's batch (1,000): every one written.
    const many = await Promise.all(Array.from({ length: 1_001 }, (_, index) => store.environments.create({ name: `many-${index}`, type: "edge-agent" })));
    expect(await store.cluster.reassertSessions("r-a", many.map((environment) => ({ environmentId: environment.id, openedAt: at(7) })))).toHaveLength(1_001);
    expect(await store.cluster.sessionOwner(many[1_000]?.id ?? 0)).toMatchObject({ replicaId: "r-a", openedAt: at(7) });
  });

  it("reads the session owners of a page of ids in one call, and refuses more than 1,000 ids", async () => {
    const store = await opened(engine);
    const first = await store.environments.create({ name: "first", type: "edge-agent" });
    const second = await store.environments.create({ name: "second", type: "edge-agent" });
    const none = await store.environments.create({ name: "none", type: "edge-agent" });
    await store.cluster.claimSession(first.id, "r-a", at(1));
    await store.cluster.claimSession(second.id, "r-b", at(2));
    expect(await store.cluster.sessionOwners([second.id, none.id, first.id, first.id])).toEqual([
      { environmentId: first.id, replicaId: "r-a", openedAt: at(1) },
      { environmentId: second.id, replicaId: "r-b", openedAt: at(2) },
    ]);
    expect(await store.cluster.sessionOwners([])).toEqual([]);
    await expect(store.cluster.sessionOwners(Array.from({ length: 1_001 }, (_, index) => index + 1))).rejects.toMatchObject({ code: "bad_request", field: "environmentIds" });
  });

  it("forgets the session of a removed environment, and refuses to claim one for it", async () => {
    const store = await opened(engine);
    const { id } = await store.environments.create({ name: "edge-1", type: "edge-agent" });
    await store.cluster.claimSession(id, "r-a", at(1));
    expect(await store.cluster.sessionOwner(id)).not.toBeNull();
    expect(await store.environments.delete(id)).toBe(true);
    expect(await store.cluster.sessionOwner(id)).toBeNull();
    await expect(store.cluster.claimSession(id, "r-a", at(2))).rejects.toMatchObject({ code: "not_found", message: `Environment ${id} does not exist (removed meanwhile); its session cannot be claimed.` });
    expect(await store.cluster.sessionOwner(id)).toBeNull();
  });

  it("prunes the replicas not seen since the cutoff with their sessions, and keeps the live ones'", async () => {
    const store = await opened(engine);
    const dead = await store.environments.create({ name: "on-dead", type: "edge-agent" });
    const live = await store.environments.create({ name: "on-live", type: "edge-agent" });
    await store.cluster.touchReplica({ id: "r-dead", name: "dead", peerAddress: "10.0.0.1:9445", startedAt: at(0) }, at(10));
    await store.cluster.touchReplica({ id: "r-live", name: "live", peerAddress: "10.0.0.2:9445", startedAt: at(0) }, at(30));
    await store.cluster.claimSession(dead.id, "r-dead", at(5));
    await store.cluster.claimSession(live.id, "r-live", at(5));
    expect(await store.cluster.pruneReplicas(at(10))).toBe(0); // seen exactly at the cutoff: still alive
    expect(await store.cluster.sessionOwner(dead.id)).toMatchObject({ replicaId: "r-dead" });
    expect(await store.cluster.pruneReplicas(at(20))).toBe(1);
    expect((await store.cluster.replicas()).map((replica) => replica.id)).toEqual(["r-live"]);
    expect(await store.cluster.sessionOwner(dead.id)).toBeNull();
    expect(await store.cluster.sessionOwner(live.id)).toMatchObject({ replicaId: "r-live" });
  });

  it("keeps shared files as opaque bytes: upserts a batch, lists by prefix (case-sensitively), deletes by prefix", async () => {
    const store = await opened(engine);
    const every = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));
    await store.cluster.putFiles(
      [
        { name: "ca/ca.key", content: every },
        { name: "ca/ca.crt", content: Buffer.from("pem") },
        { name: "CA/other", content: Buffer.alloc(0) },
        { name: "secrets/jwt.key", content: Buffer.from("k1") },
      ],
      at(1),
    );
    expect(await store.cluster.listFiles("ca/")).toEqual([
      { name: "ca/ca.crt", content: Buffer.from("pem"), updatedAt: at(1) },
      { name: "ca/ca.key", content: every, updatedAt: at(1) },
    ]);
    await store.cluster.putFiles([{ name: "secrets/jwt.key", content: Buffer.from("k2") }], at(2));
    expect(await store.cluster.listFiles("secrets/")).toEqual([{ name: "secrets/jwt.key", content: Buffer.from("k2"), updatedAt: at(2) }]);
    expect((await store.cluster.listFiles()).map((file) => file.name)).toEqual(["CA/other", "ca/ca.crt", "ca/ca.key", "secrets/jwt.key"]);
    expect(await store.cluster.deleteFiles("ca/")).toBe(2);
    expect((await store.cluster.listFiles()).map((file) => file.name)).toEqual(["CA/other", "secrets/jwt.key"]);
    expect(await store.cluster.deleteFiles("ca/")).toBe(0);
  });

  it("refuses cluster file names and contents out of bounds, naming the file, and writes nothing of that batch", async () => {
    const store = await opened(engine);
    const ok = { name: "ok/file", content: Buffer.from("x") };
    const longest = "n".repeat(200);
    await store.cluster.putFiles([{ name: longest, content: Buffer.alloc(maxClusterFileBytes) }], at(1));
    expect((await store.cluster.listFiles(longest)).map((file) => file.content.length)).toEqual([maxClusterFileBytes]);
    const refusals: Array<[{ name: string; content: Buffer }, RegExp]> = [
      [{ name: "n".repeat(201), content: Buffer.from("x") }, /is 201 characters long; at most 200/],
      [{ name: "ca/ca key", content: Buffer.from("x") }, /"ca\/ca key" may use only letters, digits/],
      [{ name: "ca/../../etc/passwd", content: Buffer.from("x") }, /"ca\/..\/..\/etc\/passwd" must not contain '\.\.'/],
      [{ name: "/etc/passwd", content: Buffer.from("x") }, /must be relative/],
      [{ name: "", content: Buffer.from("x") }, /is empty/],
      [{ name: "ca/big.crt", content: Buffer.alloc(maxClusterFileBytes + 1) }, /Cluster file "ca\/big.crt" is 1048577 bytes; at most 1048576 \(1 MiB\)/],
    ];
    for (const [file, message] of refusals) {
      await expect(store.cluster.putFiles([ok, file], at(2)), file.name).rejects.toMatchObject({ code: "bad_request", message: expect.stringMatching(message) as unknown });
    }
    expect(await store.cluster.listFiles("ok/")).toEqual([]);
    await expect(store.cluster.listFiles("../")).rejects.toMatchObject({ code: "bad_request", field: "prefix" });
    await expect(store.cluster.deleteFiles("")).rejects.toMatchObject({ code: "bad_request", field: "prefix" });
    expect(await store.cluster.listFiles()).toHaveLength(1);
  });

  it("runs one holder of a lock at a time, other names alongside, and hands the lock on after a failure", async () => {
    const store = await opened(engine);
    await holdTogether(store, store, ["x", "y"]);
    const timeline: string[] = [];
    expect(await Promise.all([holdLock(store, "x", "a", timeline), holdLock(store, "x", "b", timeline), holdLock(store, "x", "c", timeline)])).toEqual(["a", "b", "c"]);
    expect(timeline).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
    const failure = new Error("work failed");
    await expect(store.cluster.withLock("x", () => Promise.reject(failure))).rejects.toBe(failure);
    expect(await store.cluster.withLock("x", () => Promise.resolve("after"))).toBe("after");
  });

  if (engine.dialect === "postgres") {
    it("excludes across two stores on one database (pg_advisory_lock), and releases the lock when the work ends", async () => {
      const target = await engine.target();
      const [a, b] = [await opened(engine, target), await opened(engine, target)];
      const advisoryLocks = async (granted: boolean) =>
        (await engine.sql<{ n: number }>(target, `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted = ${granted} AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`))[0]?.n;
      await holdTogether(a, b, ["ca", "jwt"]);
      const timeline: string[] = [];
      let bDone: Promise<string> | undefined;
      await a.cluster.withLock("ca", async () => {
        timeline.push("a in");
        expect(await advisoryLocks(true)).toBe(1);
        bDone = holdLock(b, "ca", "b", timeline, 0);
        // b's connection waits in PostgreSQL for a's lock, not in this process.
        await eventually("b waiting for the advisory lock", async () => (await advisoryLocks(false)) === 1);
        timeline.push("a out");
      });
      expect(await bDone).toBe("b");
      expect(timeline).toEqual(["a in", "a out", "b in", "b out"]);
      expect(await advisoryLocks(true)).toBe(0);
    });
  }
});
