import { expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { maxAgentUpdateSchedules } from "../store/agent-updates.ts";
import { describeOnEngines } from "../store/store-engines.testkit.ts";
import { AgentUpdateService } from "./agent-updates.ts";
import { membership } from "./membership.ts";

const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error: unknown) => (error instanceof ServerError ? error.code : String(error)));

/** The agent update service over the real store (migration 15) on SQLite and PostgreSQL. */
describeOnEngines("agent updates", (engine) => {
  it("offers the newest schedule of an environment's groups until the device reports, keeps the result per device, and asks again for a newer one", async () => {
    await using store = await engine.open();
    const changed: (readonly number[] | "all")[] = [];
    const updates = new AgentUpdateService({ store: store.agentUpdates, membership: membership(store.edgeGroups), changes: { changed: (ids) => Promise.resolve(void changed.push(ids)) }, log: () => {} });
    const one = (await store.environments.create({ name: "one", type: "edge-agent", userTrusted: true })).id;
    const two = (await store.environments.create({ name: "two", type: "edge-agent", userTrusted: true })).id;
    const outside = (await store.environments.create({ name: "outside", type: "edge-agent", userTrusted: true })).id;
    const group = await store.edgeGroups.create({ name: "sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [one, two] });

    expect(await updates.desiredUpdate(one)).toBeUndefined();
    const first = await updates.create({ name: "0.2", image: "pier-agent:0.2", groupIds: [group.id], deadlineSeconds: 120 });
    expect(changed).toEqual([[one, two]]);
    expect(first).toMatchObject({ name: "0.2", image: "pier-agent:0.2", groupIds: [group.id], deadlineSeconds: 120, environmentIds: [one, two], progress: [] });
    expect(await updates.desiredUpdate(one)).toEqual({ id: first.id, image: "pier-agent:0.2", deadlineSeconds: 120 });
    expect(await updates.desiredUpdate(outside)).toBeUndefined();
    expect(await codeOf(updates.create({ name: "0.2", image: "pier-agent:0.3", groupIds: [group.id], deadlineSeconds: 120 }))).toBe("conflict");

    await updates.record(one, { id: first.id, status: "rolled_back", agentVersion: "0.1.0", error: "the new agent did not check in within 120 s" });
    expect(changed.at(-1)).toEqual([one]);
    expect(await updates.desiredUpdate(one)).toBeUndefined();
    expect(await updates.desiredUpdate(two)).toEqual({ id: first.id, image: "pier-agent:0.2", deadlineSeconds: 120 });
    expect((await updates.get(first.id)).progress).toEqual([{ scheduleId: first.id, environmentId: one, status: "rolled_back", agentVersion: "0.1.0", error: "the new agent did not check in within 120 s", updatedAt: expect.any(Date) as Date }]);

    const second = await updates.create({ name: "0.3", image: "pier-agent:0.3", groupIds: [group.id], deadlineSeconds: 60 });
    expect(await updates.desiredUpdate(one)).toEqual({ id: second.id, image: "pier-agent:0.3", deadlineSeconds: 60 });
    await updates.record(one, { id: second.id, status: "updated", agentVersion: "0.3.0" });
    expect(await updates.desiredUpdate(one)).toBeUndefined();
    expect((await updates.list()).map((schedule) => [schedule.id, schedule.progress.map((p) => p.status)])).toEqual([[second.id, ["updated"]], [first.id, ["rolled_back"]]]);

    // A report for a schedule deleted meanwhile is acknowledged and dropped.
    await updates.delete(first.id);
    await updates.record(two, { id: first.id, status: "updated", agentVersion: "0.2.0" });
    expect(await codeOf(updates.get(first.id))).toBe("not_found");
    expect(await store.agentUpdates.progressOf(two, [first.id])).toEqual([]);
  });

  it(`keeps at most ${maxAgentUpdateSchedules} schedules`, async () => {
    await using store = await engine.open();
    for (let i = 0; i < maxAgentUpdateSchedules; i++) await store.agentUpdates.create({ name: `s${i}`, image: "pier-agent:x", groupIds: [1], deadlineSeconds: 30 }, new Date());
    expect(await codeOf(store.agentUpdates.create({ name: "one more", image: "pier-agent:x", groupIds: [1], deadlineSeconds: 30 }, new Date()))).toBe("conflict");
    expect(await store.agentUpdates.list()).toHaveLength(maxAgentUpdateSchedules);
  });
});
