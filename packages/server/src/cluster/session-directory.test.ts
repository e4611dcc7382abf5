import { afterEach, describe, expect, it } from "vitest";
import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { SessionDirectory } from "./session-directory.ts";

const self = { id: "ffffffff-0000-4000-8000-000000000006", name: "replica-f", peerAddress: "127.0.0.1:9445" };
const other: ReplicaRecord = { id: "eeeeeeee-0000-4000-8000-000000000005", name: "replica-e", peerAddress: "127.0.0.2:9445", startedAt: new Date(0), seenAt: new Date() };

const cleanups: (() => PromiseLike<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real store (SQLite) whose cluster writes fail while `down` is set: a stand-in for an unreachable database. */
type DirectoryStore = Pick<ClusterStore, "claimSession" | "releaseSession" | "reassertSessions" | "sessionOwner" | "sessionOwners">;

async function storeWithOutage(): Promise<{ store: SqliteStore; cluster: DirectoryStore & { down: boolean } }> {
  const dir: TempDir = tempDir("directory");
  const store = await SqliteStore.open(dir.file("pier.db"));
  cleanups.push(() => dir[Symbol.asyncDispose](), () => store.close());
  const real = store.cluster;
  const failing = <T>(write: () => Promise<T>): Promise<T> => (cluster.down ? Promise.reject(new Error("connection refused")) : write());
  const cluster: DirectoryStore & { down: boolean } = {
    down: false,
    sessionOwner: (id) => real.sessionOwner(id),
    sessionOwners: (ids) => real.sessionOwners(ids),
    claimSession: (id: number, replica: string, at: Date) => failing(() => real.claimSession(id, replica, at)),
    releaseSession: (id: number, replica: string, at: Date) => failing(() => real.releaseSession(id, replica, at)),
    reassertSessions: (replica: string, held: readonly { environmentId: number; openedAt: Date }[]) => failing(() => real.reassertSessions(replica, held)),
  };
  return { store, cluster };
}

function directoryOn(cluster: DirectoryStore, local: Set<number>, logs: string[], alive = true): SessionDirectory {
  const registry = { self, get: (id: string): Promise<ReplicaRecord | null> => Promise.resolve(id === other.id ? other : null), isAlive: () => alive };
  return new SessionDirectory({ store: cluster, registry, isLocal: (id) => local.has(id), log: (level, message) => logs.push(`${level}: ${message}`) });
}

describe("SessionDirectory", () => {
  it("records on the next tick a session whose claim failed (an outage), and releases in order", async () => {
    const { store, cluster } = await storeWithOutage();
    const seven = await store.environments.create({ name: "seven", type: "edge-agent" });
    const eight = await store.environments.create({ name: "eight", type: "edge-agent" });
    const local = new Set<number>([seven.id]);
    const logs: string[] = [];
    const directory = directoryOn(cluster, local, logs);

    cluster.down = true;
    directory.claim(seven.id);
    await directory.close();
    expect(await store.cluster.sessionOwner(seven.id)).toBeNull();
    expect(logs).toEqual([expect.stringContaining(`could not record that this replica holds environment ${seven.id}'s session (retrying): connection refused`) as unknown]);
    await directory.reassert(); // a tick during the outage: said once
    await directory.reassert();
    expect(logs.filter((line) => line.includes("could not re-assert the 1 sessions held here"))).toHaveLength(1);
    // What the registry's next tick does once the database answers.
    cluster.down = false;
    await directory.reassert();
    await directory.close();
    expect(await store.cluster.sessionOwner(seven.id)).toMatchObject({ replicaId: self.id });
    expect(logs).toContainEqual(expect.stringContaining(`recorded again that this replica holds environment ${seven.id}'s session`));
    expect((await directory.ownerOf(seven.id))?.local).toBe(true);

    // A claim and a release queued back to back land in that order.
    local.add(eight.id);
    directory.claim(eight.id);
    local.delete(eight.id);
    directory.release(eight.id);
    await directory.close();
    expect(await store.cluster.sessionOwner(eight.id)).toBeNull();
  });

  it("heals, within one tick, a row another replica's late release deleted, and leaves a newer session's row alone (the claim race)", async () => {
    const { store, cluster } = await storeWithOutage();
    const device = await store.environments.create({ name: "device", type: "edge-agent" });
    const local = new Set<number>([device.id]);
    const logs: string[] = [];
    const directory = directoryOn(cluster, local, logs);
    directory.claim(device.id);
    await directory.close();
    const mine = await store.cluster.sessionOwner(device.id);
    expect(mine).toMatchObject({ replicaId: self.id });

    // The old code's race: the previous holder's release deleted our row; the device is connected here.
    expect(await store.cluster.releaseSession(device.id, self.id, mine?.openedAt ?? new Date())).toBe(true);
    expect(await store.cluster.sessionOwner(device.id)).toBeNull();
    await directory.reassert();
    expect(await store.cluster.sessionOwner(device.id)).toEqual(mine);

    // The device reconnected to another replica (newer session): a tick here changes nothing,
    // and this session ending later leaves the other replica's row in place.
    const newer = new Date((mine?.openedAt.getTime() ?? 0) + 1_000);
    expect(await store.cluster.claimSession(device.id, other.id, newer)).toBe(true);
    await directory.reassert();
    expect(await store.cluster.sessionOwner(device.id)).toMatchObject({ replicaId: other.id, openedAt: newer });
    local.delete(device.id);
    directory.release(device.id);
    await directory.close();
    expect(await store.cluster.sessionOwner(device.id)).toMatchObject({ replicaId: other.id, openedAt: newer });
  });

  it("releases again a row its re-assertion wrote while the session was ending", async () => {
    const { store, cluster } = await storeWithOutage();
    const device = await store.environments.create({ name: "device", type: "edge-agent" });
    const local = new Set<number>([device.id]);
    const directory = directoryOn(cluster, local, []);
    cluster.down = true;
    directory.claim(device.id);
    await directory.close();
    cluster.down = false;
    const ticking = directory.reassert(); // its statement is on its way…
    local.delete(device.id);
    directory.release(device.id); // …when the session ends
    await ticking;
    await directory.close();
    expect(await store.cluster.sessionOwner(device.id)).toBeNull();
  });

  it("says which devices of a list are connected to a live replica: here (memory), or another replica's row", async () => {
    const { store, cluster } = await storeWithOutage();
    const [here, there, nowhere, stale] = await Promise.all(["here", "there", "nowhere", "stale"].map((name) => store.environments.create({ name, type: "edge-agent" })));
    if (!here || !there || !nowhere || !stale) throw new Error("environments not created");
    await store.cluster.claimSession(there.id, other.id, new Date());
    await store.cluster.claimSession(stale.id, self.id, new Date()); // names this replica, no session here
    const local = new Set<number>([here.id]);
    expect(await directoryOn(cluster, local, []).connected([here.id, there.id, nowhere.id, stale.id])).toEqual(new Set([here.id, there.id]));
    // The other replica is dead: its devices are not connected.
    expect(await directoryOn(cluster, local, [], false).connected([here.id, there.id, nowhere.id])).toEqual(new Set([here.id]));
  });
});
