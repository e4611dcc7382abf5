import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { databaseUnreachable } from "../store/store-errors.ts";
import { ReplicaRegistry } from "./replica-registry.ts";

/**
 * After a database outage every replica's row is as old as the outage. The first replica back
 * must not prune the others (and their sessions, which the other replicas' devices would then
 * show as disconnected) before they could refresh theirs: it prunes only once its own row has
 * been refreshed for the prune delay (chaos suite, database-outage).
 */
describe("ReplicaRegistry after the database was unreachable", () => {
  it("prunes nobody until its own row has been refreshed for the prune delay again", async () => {
    let down = false;
    const prunes: number[] = [];
    const registry = new ReplicaRegistry({
      store: {
        touchReplica: () => (down ? Promise.reject(databaseUnreachable(new Error("connect ECONNREFUSED 127.0.0.1:5432"))) : Promise.resolve()),
        getReplica: () => Promise.resolve(null),
        pruneReplicas: () => {
          prunes.push(Date.now());
          return Promise.resolve(0);
        },
      },
      self: { id: "r1", name: "replica-1", peerAddress: "127.0.0.1:9445" },
      log: () => undefined,
      timing: { touchIntervalMs: 20, aliveMs: 100, pruneAfterMs: 400 },
    });
    await registry.start();
    try {
      // A replica that just started judges nobody before the prune delay either.
      await sleep(200);
      expect(prunes).toEqual([]);
      await expect.poll(() => prunes.length, { timeout: 5_000 }).toBeGreaterThan(0);
      down = true;
      // (Long enough for a tick to fail: the registry forgets since when it was refreshing.)
      await sleep(200);
      const back = Date.now();
      down = false;
      prunes.length = 0;
      await sleep(250);
      expect(prunes).toEqual([]);
      await expect.poll(() => prunes.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(Math.min(...prunes) - back).toBeGreaterThanOrEqual(380);
    } finally {
      await registry.stop();
    }
  });
});
