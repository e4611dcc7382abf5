import { describe, expect, it } from "vitest";
import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";
import { SessionDirectory } from "./session-directory.ts";

const self = { id: "ffffffff-0000-4000-8000-000000000006", name: "replica-f", peerAddress: "127.0.0.1:9445" };

describe("SessionDirectory", () => {
  it("claims again, on the next tick, a session whose claim the store refused (an outage), and releases in order", async () => {
    // A stand-in for edge_sessions whose first write fails as an unreachable database would.
    const rows = new Map<number, string>();
    let failNext = true;
    const store: Pick<ClusterStore, "claimSession" | "releaseSession" | "sessionOwner"> = {
      claimSession: (environmentId, replicaId) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error("connection refused"));
        }
        rows.set(environmentId, replicaId);
        return Promise.resolve();
      },
      releaseSession: (environmentId, replicaId) => Promise.resolve(rows.get(environmentId) === replicaId && rows.delete(environmentId)),
      sessionOwner: (environmentId) => Promise.resolve(rows.has(environmentId) ? { environmentId, replicaId: rows.get(environmentId) ?? "", openedAt: new Date() } : null),
    };
    const local = new Set<number>([7]);
    const logs: string[] = [];
    const registry = { self, get: (): Promise<ReplicaRecord | null> => Promise.resolve(null), isAlive: () => true };
    const directory = new SessionDirectory({ store, registry, isLocal: (id) => local.has(id), log: (level, message) => logs.push(`${level}: ${message}`) });

    directory.claim(7);
    await directory.close();
    expect(rows.has(7)).toBe(false);
    expect(logs).toEqual([expect.stringContaining("could not record that this replica holds environment 7's session (retrying): connection refused") as unknown]);
    // What the registry's next tick does.
    directory.retryClaims();
    await directory.close();
    expect(rows.get(7)).toBe(self.id);
    expect((await directory.ownerOf(7))?.local).toBe(true);

    // A claim and a release queued back to back land in that order; a row naming another replica is left alone.
    local.delete(7);
    directory.claim(8);
    directory.release(8);
    rows.set(9, "another-replica");
    directory.release(9);
    await directory.close();
    expect(rows.has(8)).toBe(false);
    expect(rows.get(9)).toBe("another-replica");
    expect(await directory.ownerOf(7)).toBeNull();
  });
});
