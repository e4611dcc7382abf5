import { expect, it, onTestFinished } from "vitest";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine): Promise<Store> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  return store;
}

const version = (digit: string) => digit.repeat(64);

describeOnEngines("desired-state versions (migration 16)", (engine) => {
  it("are read with the environment row, written only when they change, and never by an environment patch", async () => {
    const store = await opened(engine);
    const a = await store.environments.create({ name: "a", type: "edge-agent", userTrusted: true });
    const b = await store.environments.create({ name: "b", type: "edge-agent", userTrusted: true });
    const waiting = await store.environments.create({ name: "w", type: "edge-agent" });
    expect(a.desiredStateVersion).toBeUndefined();

    expect(await store.desiredStateVersions.record([{ environmentId: a.id, version: version("a"), error: null }, { environmentId: b.id, version: version("b"), error: null }, { environmentId: 999_999, version: version("c"), error: null }])).toEqual([a.id, b.id]);
    expect((await store.environments.get(a.id))?.desiredStateVersion).toBe(version("a"));
    expect((await store.environments.getByEdgeId("none"))?.desiredStateVersion).toBeUndefined();
    // The same values again: nothing changed.
    expect(await store.desiredStateVersions.record([{ environmentId: a.id, version: version("a"), error: null }])).toEqual([]);

    // A document that could not be delivered keeps the version and records why.
    expect(await store.desiredStateVersions.record([{ environmentId: a.id, version: null, error: "too large" }])).toEqual([]);
    const kept = await store.environments.get(a.id);
    expect(kept).toMatchObject({ desiredStateVersion: version("a"), desiredStateError: "too large" });

    // An ordinary update of the environment leaves both columns alone.
    const renamed = await store.environments.update(a.id, { name: "renamed" });
    expect(renamed).toMatchObject({ name: "renamed", desiredStateVersion: version("a"), desiredStateError: "too large" });

    expect(await store.desiredStateVersions.associated()).toEqual([a.id, b.id]);
    expect(await store.desiredStateVersions.associated()).not.toContain(waiting.id);
  });

  it("refuses a version that is not 64 characters (the column's check)", async () => {
    const store = await opened(engine);
    const a = await store.environments.create({ name: "a", type: "edge-agent", userTrusted: true });
    await expect(store.desiredStateVersions.record([{ environmentId: a.id, version: "abc", error: null }])).rejects.toThrow();
    expect((await store.environments.get(a.id))?.desiredStateVersion).toBeUndefined();
  });
});
