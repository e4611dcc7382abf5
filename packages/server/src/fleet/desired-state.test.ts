import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { DesiredStateService, canonicalJson, desiredStateVersion } from "./desired-state.ts";

describe("desired-state version", () => {
  it("is the same whatever order the parts built their objects in, and differs when anything differs", () => {
    const stack = { id: 1, name: "web", version: 2, deploymentType: 0 as const, composeFile: "services: {}\n", envVars: [{ name: "A", value: "1" }], registries: [] };
    const reordered = { registries: [], envVars: [{ value: "1", name: "A" }], composeFile: "services: {}\n", deploymentType: 0 as const, version: 2, name: "web", id: 1 };
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }], u: undefined })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const version = desiredStateVersion({ stacks: [stack], jobs: [] });
    expect(version).toMatch(/^[0-9a-f]{64}$/);
    expect(desiredStateVersion({ jobs: [], stacks: [reordered] })).toBe(version);
    expect(desiredStateVersion({ stacks: [{ ...stack, version: 3 }], jobs: [] })).not.toBe(version);
    expect(desiredStateVersion({ stacks: [{ ...stack, envVars: [{ name: "A", value: "2" }] }], jobs: [] })).not.toBe(version);
  });
});

describe("DesiredStateService.changed", () => {
  it("recomputes every associated environment, announcing at most 1,000 ids per event and only those whose version moved", async () => {
    await using dir = tempDir("desired-state");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const ids: number[] = [];
    for (let i = 0; i < 1_100; i++) ids.push((await store.environments.create({ name: `d${i}`, type: "edge-agent", userTrusted: true })).id);
    const waiting = await store.environments.create({ name: "waiting", type: "edge-agent" });
    const announced: number[][] = [];
    let stackVersion = 1;
    const service = new DesiredStateService({
      store,
      events: { publish: (event) => Promise.resolve(void (event.type === "desired_state_changed" && announced.push(event.environmentIds))) },
      sources: () => ({
        stacks: (id) => Promise.resolve(id % 2 === 0 ? [{ id: 1, name: "web", version: stackVersion, deploymentType: 0 as const, composeFile: "services: {}\n", envVars: [], registries: [] }] : []),
        jobs: () => Promise.resolve([]),
        agentUpdate: () => Promise.resolve(undefined),
      }),
      log: () => undefined,
    });

    await service.changed("all");
    expect(announced.map((event) => event.length)).toEqual([1_000, 100]);
    expect(announced.flat().sort((a, b) => a - b)).toEqual(ids);
    expect((await store.environments.get(waiting.id))?.desiredStateVersion).toBeUndefined();

    // A new stack version moves only the environments that run it.
    announced.length = 0;
    stackVersion = 2;
    await service.changed([...ids, waiting.id]);
    expect(announced.flat().sort((a, b) => a - b)).toEqual(ids.filter((id) => id % 2 === 0));
    expect(announced.every((event) => event.length <= 1_000)).toBe(true);
  }, 60_000);
});
