import { expect, it, onTestFinished } from "vitest";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine): Promise<{ store: Store }> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  return { store };
}

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6) + seconds * 1000);
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;
// Group ids: edge_stack_groups holds ids only (the group routes refuse to delete a group in use).
const groupA = 11;
const groupB = 12;

describeOnEngines("edge stack store", (engine) => {
  it("creates a stack at version 1 with its groups, file, variables and registries, and refuses a second stack of that name (409)", async () => {
    const { store } = await opened(engine);
    const stack = await store.edgeStacks.create({ name: "web", composeFile: compose("nginx:1"), envVars: [{ name: "PORT", value: "80" }], registryIds: [3, 2, 3], groupIds: [groupB, groupA] }, at(1));
    expect(stack).toEqual({
      id: 1,
      name: "web",
      version: 1,
      deploymentType: 0,
      createdAt: at(1),
      updatedAt: at(1),
      groupIds: [groupA, groupB],
      composeFile: compose("nginx:1"),
      envVars: [{ name: "PORT", value: "80" }],
      registryIds: [2, 3],
    });
    expect(await store.edgeStacks.get(1)).toEqual(stack);
    expect(await store.edgeStacks.list()).toEqual([stack]);
    await expect(store.edgeStacks.create({ name: "web", composeFile: compose("x"), envVars: [], registryIds: [], groupIds: [] }, at(2))).rejects.toMatchObject({ code: "conflict", field: "name" });
    expect(await store.edgeStacks.list()).toHaveLength(1);
  });

  it("makes version + 1 (keeping every version) when the file, variables or registries change or a redeploy is forced, and not for a group change alone", async () => {
    const { store } = await opened(engine);
    const { id } = await store.edgeStacks.create({ name: "web", composeFile: compose("nginx:1"), envVars: [], registryIds: [], groupIds: [groupA] }, at(1));
    const groupsOnly = await store.edgeStacks.update(id, { composeFile: compose("nginx:1"), envVars: [], registryIds: [], groupIds: [groupB], forceNewVersion: false }, at(2));
    expect(groupsOnly.before).toMatchObject({ version: 1, groupIds: [groupA] });
    expect(groupsOnly.after).toMatchObject({ version: 1, groupIds: [groupB], updatedAt: at(2) });
    const newFile = await store.edgeStacks.update(id, { composeFile: compose("nginx:2"), envVars: [], registryIds: [], groupIds: [groupB], forceNewVersion: false }, at(3));
    expect(newFile.after).toMatchObject({ version: 2, composeFile: compose("nginx:2") });
    const forced = await store.edgeStacks.update(id, { composeFile: compose("nginx:2"), envVars: [], registryIds: [], groupIds: [groupB], forceNewVersion: true }, at(4));
    expect(forced.after.version).toBe(3);
    const envChange = await store.edgeStacks.update(id, { composeFile: compose("nginx:2"), envVars: [{ name: "A", value: "1" }], registryIds: [], groupIds: [groupB], forceNewVersion: false }, at(5));
    expect(envChange.after.version).toBe(4);
    expect(await store.edgeStacks.getVersion(id, 1)).toEqual({ stackId: id, version: 1, composeFile: compose("nginx:1"), envVars: [], registryIds: [], createdAt: at(1) });
    expect(await store.edgeStacks.getVersion(id, 4)).toMatchObject({ envVars: [{ name: "A", value: "1" }] });
    expect(await store.edgeStacks.getVersion(id, 5)).toBeNull();
    await expect(store.edgeStacks.update(999, { composeFile: compose("x"), envVars: [], registryIds: [], groupIds: [], forceNewVersion: false }, at(6))).rejects.toMatchObject({ code: "not_found" });
  });

  it("concurrent updates of one stack store distinct versions (none lost)", async () => {
    const { store } = await opened(engine);
    const { id } = await store.edgeStacks.create({ name: "web", composeFile: compose("v0"), envVars: [], registryIds: [], groupIds: [groupA] }, at(1));
    await Promise.all([1, 2, 3, 4].map((n) => store.edgeStacks.update(id, { composeFile: compose(`v${n}`), envVars: [], registryIds: [], groupIds: [groupA], forceNewVersion: false }, at(2))));
    expect((await store.edgeStacks.get(id))?.version).toBe(5);
    for (const version of [1, 2, 3, 4, 5]) expect(await store.edgeStacks.getVersion(id, version)).not.toBeNull();
  });

  it("finds the stacks of groups and of registries", async () => {
    const { store } = await opened(engine);
    const web = await store.edgeStacks.create({ name: "web", composeFile: compose("a"), envVars: [], registryIds: [7], groupIds: [groupA] }, at(1));
    const db = await store.edgeStacks.create({ name: "db", composeFile: compose("b"), envVars: [], registryIds: [], groupIds: [groupA, groupB] }, at(1));
    expect(await store.edgeStacks.stacksForGroups([groupA])).toEqual([web.id, db.id]);
    expect(await store.edgeStacks.stacksForGroups([groupB])).toEqual([db.id]);
    expect(await store.edgeStacks.stacksForGroups([99])).toEqual([]);
    expect(await store.edgeStacks.stacksForRegistries([7, 8])).toEqual([web.id]);
    expect(await store.edgeStacks.namesByGroup([groupA, groupB, 99])).toEqual(new Map([[groupA, ["db", "web"]], [groupB, ["db"]]]));
    await store.edgeStacks.delete(web.id);
    expect(await store.edgeStacks.stacksForRegistries([7])).toEqual([]);
    expect(await store.edgeStacks.stacksForGroups([groupA])).toEqual([db.id]);
  });

  it("targets an environment's stacks at the current version, or, while a rollout is unfinished, the previous one until the environment is released", async () => {
    const target = await engine.cleanTarget();
    const store = await engine.open(target);
    onTestFinished(() => store.close());
    const released = await store.environments.create({ name: "released", type: "edge-agent", userTrusted: true });
    const held = await store.environments.create({ name: "held", type: "edge-agent", userTrusted: true });
    const web = await store.edgeStacks.create({ name: "web", composeFile: compose("nginx:1"), envVars: [], registryIds: [], groupIds: [groupA] }, at(1));
    await store.edgeStacks.create({ name: "other", composeFile: compose("busybox"), envVars: [], registryIds: [], groupIds: [groupB] }, at(1));
    expect(await store.edgeStacks.desiredFor(held.id, [groupA])).toEqual([{ id: web.id, name: "web", version: 1, deploymentType: 0, composeFile: compose("nginx:1"), envVars: [], registryIds: [] }]);
    expect(await store.edgeStacks.desiredFor(held.id, [])).toEqual([]);
    await store.edgeStacks.update(web.id, { composeFile: compose("nginx:2"), envVars: [], registryIds: [], groupIds: [groupA], forceNewVersion: false }, at(2));
    // Precondition: without a rollout both get version 2.
    expect((await store.edgeStacks.desiredFor(held.id, [groupA]))[0]?.version).toBe(2);
    expect((await store.edgeStacks.desiredFor(released.id, [groupA]))[0]?.version).toBe(2);
    expect(await store.edgeStacks.rolloutOf(web.id)).toBeNull();
    // Stand-in for the rollout engine (a later part): its rows, written as an operator's psql would.
    await engine.sql(
      target,
      "INSERT INTO edge_stack_rollouts (stack_id, version, previous_version, batch_size, batch_percent, wait_seconds, failure_threshold, state, started_at, released_at, updated_at) VALUES (?, 2, 1, 1, NULL, 60, 1, 'running', 0, 0, 0)",
      [web.id],
    );
    await engine.sql(target, "INSERT INTO edge_stack_targets (stack_id, environment_id, version, released_at) VALUES (?, ?, 2, 0)", [web.id, released.id]);
    expect((await store.edgeStacks.desiredFor(held.id, [groupA]))[0]).toMatchObject({ version: 1, composeFile: compose("nginx:1") });
    expect((await store.edgeStacks.desiredFor(released.id, [groupA]))[0]).toMatchObject({ version: 2, composeFile: compose("nginx:2") });
    expect(await store.edgeStacks.rolloutOf(web.id)).toEqual({
      stackId: web.id,
      version: 2,
      previousVersion: 1,
      state: "running",
      batchSize: 1,
      batchPercent: null,
      waitSeconds: 60,
      failureThreshold: 1,
      startedAt: new Date(0),
      releasedAt: new Date(0),
      released: 1,
    });
    // Paused and aborted rollouts hold back too; a completed one releases everyone.
    await engine.sql(target, "UPDATE edge_stack_rollouts SET state = 'paused'");
    expect((await store.edgeStacks.desiredFor(held.id, [groupA]))[0]?.version).toBe(1);
    await engine.sql(target, "UPDATE edge_stack_rollouts SET state = 'completed'");
    expect((await store.edgeStacks.desiredFor(held.id, [groupA]))[0]?.version).toBe(2);
    // A later update (version 3, no rollout) reaches everyone; the released row for 2 no longer counts.
    await engine.sql(target, "UPDATE edge_stack_rollouts SET state = 'running'");
    await store.edgeStacks.update(web.id, { composeFile: compose("nginx:3"), envVars: [], registryIds: [], groupIds: [groupA], forceNewVersion: false }, at(3));
    expect((await store.edgeStacks.desiredFor(held.id, [groupA]))[0]?.version).toBe(3);
    expect((await store.edgeStacks.desiredFor(released.id, [groupA]))[0]?.version).toBe(3);
    // The rollout of version 2 is not the current version's.
    expect(await store.edgeStacks.rolloutOf(web.id)).toBeNull();
    // Both groups: each stack once.
    expect((await store.edgeStacks.desiredFor(released.id, [groupA, groupB])).map((stack) => stack.name)).toEqual(["web", "other"]);
  });

  it("keeps status rows per (stack, environment), replaces them, and keeps them after the stack is deleted until removed", async () => {
    const { store } = await opened(engine);
    const device = await store.environments.create({ name: "d", type: "edge-agent", userTrusted: true });
    const web = await store.edgeStacks.create({ name: "web", composeFile: compose("a"), envVars: [], registryIds: [], groupIds: [groupA] }, at(1));
    expect(await store.edgeStacks.status(web.id, device.id)).toBeNull();
    const row = { stackId: web.id, environmentId: device.id, version: 1, transitions: [{ type: 3, time: 100 }, { type: 2, time: 101, error: "pull failed" }], rolledBackTo: null, updatedAt: at(3) };
    await store.edgeStacks.putStatus(row);
    expect(await store.edgeStacks.status(web.id, device.id)).toEqual(row);
    await store.edgeStacks.putStatus({ ...row, transitions: [...row.transitions, { type: 13, time: 102, rollbackTo: 1 }], rolledBackTo: 1 });
    expect(await store.edgeStacks.statuses(web.id)).toEqual([{ ...row, transitions: [...row.transitions, { type: 13, time: 102, rollbackTo: 1 }], rolledBackTo: 1 }]);
    await store.edgeStacks.delete(web.id);
    expect(await store.edgeStacks.get(web.id)).toBeNull();
    expect(await store.edgeStacks.statusesOf([web.id])).toHaveLength(1);
    expect(await store.edgeStacks.deleteStatus(web.id, device.id)).toBe(true);
    expect(await store.edgeStacks.statusesOf([web.id])).toEqual([]);
    await expect(store.edgeStacks.putStatus({ ...row, environmentId: 999 })).rejects.toMatchObject({ code: "not_found" });
    // Removing the environment removes its rows.
    await store.edgeStacks.putStatus(row);
    await store.environments.delete(device.id);
    expect(await store.edgeStacks.statusesOf([web.id])).toEqual([]);
  });
});
