import type { DesiredStack } from "@pier/protocol";
import { expect, it, onTestFinished } from "vitest";
import { type StoreEngine, describeOnEngines } from "../store/store-engines.testkit.ts";
import type { Store } from "../store/store.ts";
import { DesiredStateService } from "./desired-state.ts";
import type { DesiredStateSources } from "./fleet-contracts.ts";

/** Two replicas over one database: each its own store connection and its own service (and cache). */
async function replicas(engine: StoreEngine): Promise<[Store, Store]> {
  const target = await engine.cleanTarget();
  const a = await engine.open(target);
  const b = await engine.open(target);
  onTestFinished(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

/** Sources serving one stack at `world.version`, counting their calls. */
function countingSources(world: { version: number; calls: number }): () => DesiredStateSources {
  const stack = (): DesiredStack => ({ id: 1, name: "web", version: world.version, deploymentType: 0, composeFile: "services: {}\n", envVars: [], registries: [] });
  return () => ({
    stacks: () => {
      world.calls++;
      return Promise.resolve([stack()]);
    },
    jobs: () => Promise.resolve([]),
    agentUpdate: () => Promise.resolve(undefined),
  });
}

function service(store: Store, world: { version: number; calls: number }): DesiredStateService {
  return new DesiredStateService({ store, events: { publish: () => Promise.resolve() }, sources: countingSources(world), log: () => undefined });
}

const stored = async (store: Store, id: number) => (await store.environments.get(id))?.desiredStateVersion;

describeOnEngines("desired-state document cache", (engine) => {
  it("serves the document the change computed without recomputing, and never one whose version is not the stored one", async () => {
    const [storeA, storeB] = await replicas(engine);
    const environment = await storeA.environments.create({ name: "d", type: "edge-agent", userTrusted: true });
    const world = { version: 1, calls: 0 };
    const a = service(storeA, world);
    const b = service(storeB, world);

    await a.changed([environment.id]);
    const v1 = await stored(storeA, environment.id);
    expect(v1).toMatch(/^[0-9a-f]{64}$/);
    expect(world.calls).toBe(1);
    const served = await a.document(environment.id, v1);
    expect(served.version).toBe(v1);
    expect(world.calls).toBe(1); // from the cache

    // Replica B stores version 2; A's cache still holds version 1.
    world.version = 2;
    await b.changed([environment.id]);
    const v2 = await stored(storeA, environment.id);
    expect(v2).not.toBe(v1);
    expect(a.cachedDocuments).toBe(1);
    const fresh = await a.document(environment.id, v2);
    expect(fresh.version).toBe(v2);
    expect(fresh.stacks[0]?.version).toBe(2);
    // A stale version asked for (a row read before the change) is not served from the cache either: computed again.
    const calls = world.calls;
    expect((await a.document(environment.id, v1)).version).toBe(v2);
    expect(world.calls).toBe(calls + 1);
  });

  it("on a replica that did not compute it, a miss computes once for concurrent fetches, then serves from its cache", async () => {
    const [storeA, storeB] = await replicas(engine);
    const environment = await storeA.environments.create({ name: "d", type: "edge-agent", userTrusted: true });
    const world = { version: 1, calls: 0 };
    await service(storeA, world).changed([environment.id]);
    const version = await stored(storeB, environment.id);
    expect(world.calls).toBe(1);

    const b = service(storeB, world);
    expect(b.cachedDocuments).toBe(0);
    const documents = await Promise.all(Array.from({ length: 8 }, () => b.document(environment.id, version)));
    expect(documents.map((document) => document.version)).toEqual(Array.from({ length: 8 }, () => version));
    expect(world.calls).toBe(2); // one computation for the eight fetches
    await b.document(environment.id, version);
    expect(world.calls).toBe(2);
  });
});

it("keeps at most cacheEntries documents, the least recently used dropped first", async () => {
  const world = { version: 1, calls: 0 };
  const { SqliteStore } = await import("../store/sqlite-store.ts");
  const { tempDir } = await import("../store/temp-dir.testkit.ts");
  await using dir = tempDir("desired-state-cache");
  await using store = await SqliteStore.open(dir.file("pier.db"));
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push((await store.environments.create({ name: `d${i}`, type: "edge-agent", userTrusted: true })).id);
  const desired = new DesiredStateService({ store, events: { publish: () => Promise.resolve() }, sources: countingSources(world), log: () => undefined, cacheEntries: 3 });
  await desired.changed(ids);
  expect(world.calls).toBe(5);
  expect(desired.cachedDocuments).toBe(3);
  const version = await stored(store, ids[0] as number);
  await desired.document(ids[0] as number, version); // evicted: computed again
  expect(world.calls).toBe(6);
  await desired.document(ids[4] as number, version); // kept
  expect(world.calls).toBe(6);
});
