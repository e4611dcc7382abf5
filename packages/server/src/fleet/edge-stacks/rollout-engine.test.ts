import { type StackReport, edgeStackStatusTypes as types } from "@pier/protocol";
import { expect, it, onTestFinished } from "vitest";
import type { StoreTarget } from "../../store/database.ts";
import type { RolloutOptions } from "../../store/edge-stack-rollouts.ts";
import { type StoreEngine, describeOnEngines } from "../../store/store-engines.testkit.ts";
import type { Store } from "../../store/store.ts";
import type { FleetChanges } from "../fleet-contracts.ts";
import { membership } from "../membership.ts";
import { EdgeStackService } from "./edge-stack-service.ts";
import { RolloutEngine } from "./rollout-engine.ts";

const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;

/**
 * The rollout engine on a real store (SQLite and PostgreSQL): reports go in through the stack
 * service's `recordStatus` (the `FleetReportSinks.stackStatus` sink), desired state is read back
 * with `desiredStacks` (`DesiredStateSources.stacks`). The desired-state recomputation is a
 * recording stand-in; the clock is a test clock.
 */
describeOnEngines("edge stack rollouts", (engine: StoreEngine) => {
  interface Fixture {
    store: Store;
    target: StoreTarget;
    service: EdgeStackService;
    rollouts: RolloutEngine;
    changed: (readonly number[] | "all")[];
    clock: { now: Date };
  }

  async function fixture(shared?: { target: StoreTarget; clock: { now: Date } }): Promise<Fixture> {
    const target = shared?.target ?? (await engine.cleanTarget());
    const store = await engine.open(target);
    onTestFinished(() => store.close());
    const clock = shared?.clock ?? { now: new Date(Date.UTC(2026, 11, 6, 12)) };
    const changed: (readonly number[] | "all")[] = [];
    // Stand-in for the desired-state service: records which environments it was told about.
    const changes: FleetChanges = { changed: (ids) => (changed.push(ids), Promise.resolve()) };
    const members = membership(store.edgeGroups);
    const service = new EdgeStackService({ store, membership: members, changes, credentialsFor: () => Promise.resolve([]), log: () => undefined, now: () => clock.now });
    const rollouts = new RolloutEngine({ store, membership: members, changes, log: () => undefined, now: () => clock.now });
    return { store, target, service, rollouts, changed, clock };
  }

  async function stackOn(f: Fixture, devices: number, rollout: RolloutOptions): Promise<{ stackId: number; ids: number[] }> {
    const ids: number[] = [];
    for (let index = 0; index < devices; index += 1) ids.push((await f.store.environments.create({ name: `device-${index}`, type: "edge-agent", userTrusted: true })).id);
    const group = await f.store.edgeGroups.create({ name: "sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: ids });
    const { stack } = await f.service.create({ name: "web", composeFile: compose("nginx:1"), groupIds: [group.id], envVars: [], registryIds: [] }, "admin");
    await f.service.update(stack.id, { composeFile: compose("nginx:2"), groupIds: [group.id], envVars: [], registryIds: [], updateVersion: false, rollout }, "admin");
    f.changed.length = 0;
    return { stackId: stack.id, ids };
  }

  const versions = async (f: Fixture, ids: number[]) => Promise.all(ids.map(async (id) => (await f.service.desiredStacks(id))[0]?.version));
  const report = (f: Fixture, environmentId: number, stackId: number, type: number, extra: Partial<StackReport> = {}) =>
    f.service.recordStatus(environmentId, { stackId, version: 2, type, time: Math.floor(f.clock.now.getTime() / 1000), ...extra });
  const advance = (f: Fixture, seconds: number) => (f.clock.now = new Date(f.clock.now.getTime() + seconds * 1000));

  it("releases batches in order, each after the previous one ran and the wait passed, survives a restart, and completes", async () => {
    const f = await fixture();
    const { stackId, ids } = await stackOn(f, 5, { batchSize: 2, batchPercent: null, waitSeconds: 60, failureThreshold: 0 });
    // Precondition: the update stored version 2, yet nobody is released: everyone keeps version 1.
    expect((await f.service.get(stackId)).stack.version).toBe(2);
    expect(await versions(f, ids)).toEqual([1, 1, 1, 1, 1]);
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1, 1]);
    expect(f.changed).toEqual([[ids[0], ids[1]]]);
    // The batch has not reported: nothing more goes out, however long.
    advance(f, 3600);
    await f.rollouts.tick();
    await report(f, ids[0]!, stackId, types.running);
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1, 1]);
    await report(f, ids[1]!, stackId, types.running);
    await f.rollouts.tick();
    const settled = f.clock.now.getTime();
    expect(await f.rollouts.progress(stackId)).toEqual({ state: "running", version: 2, previousVersion: 1, released: 2, total: 5, succeeded: 2, failed: 0, nextBatchAt: new Date(settled + 60_000), reason: null });
    advance(f, 59);
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1, 1]);
    // A restart mid-rollout: a new store and engine read where it stands from the database.
    const g = await fixture({ target: f.target, clock: f.clock });
    advance(g, 1);
    await g.rollouts.tick();
    expect(await versions(g, ids)).toEqual([2, 2, 2, 2, 1]);
    expect(g.changed).toEqual([[ids[2], ids[3]]]);
    await report(g, ids[2]!, stackId, types.running);
    await report(g, ids[3]!, stackId, types.running);
    advance(g, 60);
    await g.rollouts.tick();
    expect(await versions(g, ids)).toEqual([2, 2, 2, 2, 2]);
    await g.rollouts.tick();
    expect((await g.rollouts.progress(stackId))?.state).toBe("running");
    await report(g, ids[4]!, stackId, types.running);
    await g.rollouts.tick();
    expect(await g.rollouts.progress(stackId)).toMatchObject({ state: "completed", released: 5, succeeded: 5, failed: 0, nextBatchAt: null });
    expect(await versions(g, ids)).toEqual([2, 2, 2, 2, 2]);
  });

  it("pauses by itself when failures cross the threshold (reason recorded), holds the rest back, and resumes", async () => {
    const f = await fixture();
    const { stackId, ids } = await stackOn(f, 4, { batchSize: null, batchPercent: 25, waitSeconds: 0, failureThreshold: 1 });
    await f.rollouts.tick();
    await report(f, ids[0]!, stackId, types.error, { error: "pull access denied for nginx:2" });
    await report(f, ids[0]!, stackId, types.rolledBack, { rolledBackTo: 1 });
    // One failure is tolerated (threshold 1): the next batch goes.
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1]);
    await report(f, ids[1]!, stackId, types.error, { error: "service web is exited (exit code 3)" });
    await f.rollouts.tick();
    const paused = await f.rollouts.progress(stackId);
    expect(paused).toMatchObject({ state: "paused", released: 2, failed: 2, succeeded: 0, nextBatchAt: null });
    expect(paused?.reason).toBe("2 of 2 released environments failed (threshold 1): environment 1: pull access denied for nginx:2; environment 2: service web is exited (exit code 3)");
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1]);
    const audited = (await f.store.audit.list()).find((event) => event.kind === "edge_stack_rollout_paused");
    expect(audited?.detail).toMatchObject({ stackId, version: 2, by: "pier", reason: paused?.reason });
    await expect(f.rollouts.pause(stackId)).rejects.toMatchObject({ code: "conflict" });
    await f.rollouts.resume(stackId, "alice");
    expect(await versions(f, ids)).toEqual([2, 2, 2, 1]);
    expect(await f.rollouts.progress(stackId)).toMatchObject({ state: "running", reason: null });
    // The failures accepted on resume count no more; a new one pauses again.
    await report(f, ids[2]!, stackId, types.error, { error: "boom" });
    await f.rollouts.tick();
    expect(await f.rollouts.progress(stackId)).toMatchObject({ state: "paused", failed: 3 });
  });

  it("an administrator's pause holds batches; abort puts every environment, released or not, back on the previous version", async () => {
    const f = await fixture();
    const { stackId, ids } = await stackOn(f, 4, { batchSize: 2, batchPercent: null, waitSeconds: 0, failureThreshold: 0 });
    await f.rollouts.tick();
    await f.rollouts.pause(stackId);
    await report(f, ids[0]!, stackId, types.running);
    await report(f, ids[1]!, stackId, types.running);
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([2, 2, 1, 1]);
    expect(await f.rollouts.progress(stackId)).toMatchObject({ state: "paused", reason: "paused by an administrator" });
    f.changed.length = 0;
    await f.rollouts.abort(stackId);
    expect(await versions(f, ids)).toEqual([1, 1, 1, 1]);
    expect(f.changed).toEqual([[ids[0], ids[1]]]);
    expect(await f.rollouts.progress(stackId)).toMatchObject({ state: "aborted", released: 0, reason: "aborted by an administrator" });
    await f.rollouts.tick();
    expect(await versions(f, ids)).toEqual([1, 1, 1, 1]);
    await expect(f.rollouts.resume(stackId)).rejects.toMatchObject({ code: "conflict" });
    await expect(f.rollouts.abort(stackId)).rejects.toMatchObject({ code: "conflict" });
    const kinds = (await f.store.audit.list()).filter((event) => event.kind.startsWith("edge_stack_rollout_")).map((event) => [event.kind, event.detail["by"]]);
    expect(kinds).toEqual([
      ["edge_stack_rollout_aborted", "admin"],
      ["edge_stack_rollout_paused", "admin"],
    ]);
  });

  it("two replicas ticking at once release a batch once", async () => {
    const a = await fixture();
    const { stackId, ids } = await stackOn(a, 6, { batchSize: 2, batchPercent: null, waitSeconds: 0, failureThreshold: 0 });
    const b = await fixture({ target: a.target, clock: a.clock });
    // Both read the same running row, then both try to release: the compare-and-set lets one.
    const [seenA] = await a.store.edgeStackRollouts.running();
    const [seenB] = await b.store.edgeStackRollouts.running();
    expect(seenA).toEqual(seenB);
    const claims = await Promise.all([a.store.edgeStackRollouts.release(seenA!, [ids[0]!, ids[1]!], a.clock.now), b.store.edgeStackRollouts.release(seenB!, [ids[2]!, ids[3]!], a.clock.now)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await a.store.edgeStackRollouts.released(stackId, 2)).toHaveLength(2);
    for (const id of await a.store.edgeStackRollouts.released(stackId, 2)) await report(a, id, stackId, types.running);
    // Whole engines ticking concurrently: the next batch goes out once, told by one replica.
    await Promise.all([a.rollouts.tick(), b.rollouts.tick()]);
    expect(await a.store.edgeStackRollouts.released(stackId, 2)).toHaveLength(4);
    expect([...a.changed, ...b.changed]).toHaveLength(1);
  });
});
