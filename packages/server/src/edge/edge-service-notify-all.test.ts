import type { ServerMessage } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeService } from "./edge-service.ts";

/** Sessions held: enough for the environment reads to span several 1,000-id queries. */
const held = 2_500;

/** Counts the store reads `notifyAll` and `notifyChanged` make (the store itself is untouched). */
function countReads(store: SqliteStore): { reads: () => number } {
  let reads = 0;
  const count = <A extends unknown[], R>(target: Record<string, unknown>, name: string) => {
    const original = (target[name] as (...args: A) => Promise<R>).bind(target);
    target[name] = (...args: A) => {
      reads++;
      return original(...args);
    };
  };
  const environments = store.environments as unknown as Record<string, unknown>;
  count(environments, "get");
  count(environments, "getMany");
  count(store.settings as unknown as Record<string, unknown>, "get");
  count(store.certificates as unknown as Record<string, unknown>, "listByEnvironment");
  return { reads: () => reads };
}

describe("EdgeService.notifyAll", () => {
  it(`tells ${held} held sessions the new interval with one settings read and one environments read (getMany), not 2-3 reads per session`, async () => {
    await using dir = tempDir("notify-all");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const edge = new EdgeService(store, { record: () => undefined });
    const frames = new Map<number, ServerMessage[]>();
    for (let i = 0; i < held; i++) {
      // Every third waits in the Waiting Room; the first has an interval of its own.
      const environment = await store.environments.create({ name: `edge-${i}`, type: "edge-agent", edgeId: `edge-${i}`, userTrusted: i % 3 !== 0, checkinIntervalSeconds: i === 0 ? 120 : null });
      const sent: ServerMessage[] = [];
      frames.set(environment.id, sent);
      edge.attachSession(environment.id, { sourceAddress: "192.0.2.1", push: (message) => sent.push(message), close: () => undefined, healthy: () => true });
    }
    // A session whose environment is gone (its removal is on its way) is skipped, not an error.
    const gone = await store.environments.create({ name: "gone", type: "edge-agent", edgeId: "gone" });
    edge.attachSession(gone.id, { sourceAddress: "192.0.2.1", push: () => undefined, close: () => undefined, healthy: () => true });
    await store.environments.delete(gone.id);
    await store.settings.update({ edgeAgentCheckinInterval: 30 });
    const { reads } = countReads(store);

    // Before: what notifyAll did, notifyChanged for every session (kept for environment changes).
    let started = performance.now();
    await Promise.all([...frames.keys()].map((id) => edge.notifyChanged(id)));
    const perSessionMs = performance.now() - started;
    const perSessionReads = reads();
    expect(perSessionReads).toBeGreaterThanOrEqual(2 * held);
    for (const sent of frames.values()) sent.length = 0;

    started = performance.now();
    await edge.notifyAll();
    const batchedMs = performance.now() - started;
    const batchedReads = reads() - perSessionReads;
    console.log(`notifyAll with ${held} sessions: ${batchedReads} store reads in ${batchedMs.toFixed(0)} ms; per session: ${perSessionReads} reads in ${perSessionMs.toFixed(0)} ms`);
    // One settings read, one getMany (a query per 1,000 ids).
    expect(batchedReads).toBe(2);

    const [first, ...rest] = [...frames.entries()];
    expect(first?.[1]).toEqual([{ type: "status", status: "waiting", checkinIntervalSeconds: 120 }]);
    rest.forEach(([, sent], index) => {
      const i = index + 1;
      expect(sent).toEqual([{ type: "status", status: i % 3 === 0 ? "waiting" : "associated", checkinIntervalSeconds: 30 }]);
    });
  });

  it("environments.getMany reads those of the ids that exist, by id, past 1,000 ids (one query per 1,000)", async () => {
    await using dir = tempDir("get-many");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const ids: number[] = [];
    for (let i = 0; i < 1_201; i++) ids.push((await store.environments.create({ name: `edge-${i}`, type: "edge-agent", edgeId: `edge-${i}` })).id);
    expect(await store.environments.getMany([])).toEqual([]);
    const found = await store.environments.getMany([...ids].reverse().concat([999_999, ids[5] ?? 0]));
    expect(found.map((environment) => environment.id)).toEqual(ids);
    expect(found[1_200]).toEqual(await store.environments.get(ids[1_200] ?? 0));
  });
});
