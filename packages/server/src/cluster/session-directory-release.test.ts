import { afterEach, describe, expect, it } from "vitest";
import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { SessionDirectory } from "./session-directory.ts";

const self = { id: "ffffffff-0000-4000-8000-00000000000a", name: "replica-a", peerAddress: "127.0.0.1:9445" };
const other = { id: "eeeeeeee-0000-4000-8000-00000000000b", name: "replica-b", peerAddress: "127.0.0.2:9445" };

const cleanups: (() => PromiseLike<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type DirectoryStore = Pick<ClusterStore, "claimSession" | "releaseSession" | "reassertSessions" | "sessionOwner" | "sessionOwners">;

describe("SessionDirectory, a release that failed", () => {
  it("is released again on the next tick, so other replicas stop counting the device connected", async () => {
    const dir: TempDir = tempDir("directory-release");
    const store = await SqliteStore.open(dir.file("pier.db"));
    cleanups.push(() => dir[Symbol.asyncDispose](), () => store.close());
    const real = store.cluster;
    // Stand-in for an unreachable database: releases fail while `down` is set.
    let down = false;
    const cluster: DirectoryStore = {
      sessionOwner: (id) => real.sessionOwner(id),
      sessionOwners: (ids) => real.sessionOwners(ids),
      claimSession: (id, replica, at) => real.claimSession(id, replica, at),
      releaseSession: (id, replica, at) => (down ? Promise.reject(new Error("connection refused")) : real.releaseSession(id, replica, at)),
      reassertSessions: (replica, held) => real.reassertSessions(replica, held),
    };
    const records = new Map<string, ReplicaRecord>([self, other].map((r) => [r.id, { ...r, startedAt: new Date(0), seenAt: new Date() }]));
    const registryOf = (me: typeof self) => ({ self: me, get: (id: string) => Promise.resolve(records.get(id) ?? null), isAlive: () => true });
    const logs: string[] = [];
    const log = (level: string, message: string) => logs.push(`${level}: ${message}`);
    const local = new Set<number>();
    const here = new SessionDirectory({ store: cluster, registry: registryOf(self), isLocal: (id) => local.has(id), log });
    // Replica B, reading the same store, holds nothing itself.
    const there = new SessionDirectory({ store: real, registry: registryOf(other), isLocal: () => false, log });
    const device = await store.environments.create({ name: "device", type: "edge-agent" });

    local.add(device.id);
    here.claim(device.id);
    await here.close();
    expect([...(await there.connected([device.id]))]).toEqual([device.id]); // precondition: B sees it connected

    down = true;
    local.delete(device.id);
    here.release(device.id);
    await here.close();
    expect(await real.sessionOwner(device.id)).toMatchObject({ replicaId: self.id }); // the row outlived the session
    expect(logs).toEqual([expect.stringContaining(`could not release environment ${device.id}'s session row`) as unknown]);
    await here.reassert(); // a tick during the outage: not said again
    await here.close();
    expect(logs).toHaveLength(1);
    expect(await real.sessionOwner(device.id)).not.toBeNull();

    down = false;
    await here.reassert(); // the next tick once the database answers
    await here.close();
    expect(await real.sessionOwner(device.id)).toBeNull();
    expect([...(await there.connected([device.id]))]).toEqual([]);
    await here.reassert(); // nothing left to retry
    await here.close();
    expect(logs).toEqual([expect.stringContaining("(retrying every tick): connection refused") as unknown]);
  });
});
