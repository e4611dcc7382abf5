import { expect, it, onTestFinished } from "vitest";
import { ServerError } from "../errors.ts";
import { logsStatuses, maxStoredJobLogBytes } from "./edge-jobs.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine): Promise<Store> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  return store;
}

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6) + seconds * 1000);
const job = { name: "disk usage", cronExpression: "0 * * * *", recurring: true, script: "df -h /host", groupIds: [7, 3], environmentIds: [] as number[] };

describeOnEngines("edge jobs store", (engine) => {
  it("creates a job at version 1 with its targets, reads and lists it, and deletes it with its tasks", async () => {
    const store = await opened(engine);
    const device = await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true });
    expect(await store.edgeJobs.list()).toEqual([]);
    const created = await store.edgeJobs.create({ ...job, environmentIds: [device.id, device.id] }, at(1));
    expect(created).toEqual({ id: 1, ...job, groupIds: [3, 7], environmentIds: [device.id], version: 1, createdAt: at(1), updatedAt: at(1) });
    expect(await store.edgeJobs.get(created.id)).toEqual(created);
    expect(await store.edgeJobs.list()).toEqual([created]);
    expect(await store.edgeJobs.namesByGroup([])).toEqual(new Map());
    expect(await store.edgeJobs.jobsUsingGroup(7)).toEqual([created.id]);
    await store.edgeJobs.create({ ...job, name: "second", groupIds: [3] }, at(2));
    expect(await store.edgeJobs.namesByGroup([3, 7, 8])).toEqual(new Map([[3, ["disk usage", "second"]], [7, ["disk usage"]]]));
    expect(await store.edgeJobs.requestLogs(created.id, device.id)).toBe(true);
    expect(await store.edgeJobs.tasks(created.id)).toHaveLength(1);
    expect(await store.edgeJobs.remove(created.id)).toBe(true);
    expect(await store.edgeJobs.remove(created.id)).toBe(false);
    expect(await store.edgeJobs.get(created.id)).toBeNull();
    expect(await store.edgeJobs.tasks(created.id)).toEqual([]);
    expect(await store.edgeJobs.jobsUsingGroup(7)).toEqual([]);
  });

  it("refuses an explicit environment that does not exist, naming endpoints, and stores nothing", async () => {
    const store = await opened(engine);
    const error = await store.edgeJobs.create({ ...job, environmentIds: [999] }, at(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ code: "bad_request", field: "endpoints" });
    expect(await store.edgeJobs.list()).toEqual([]);
  });

  it("bumps the version when the script, schedule or recurrence changes, not when only the name or targets do", async () => {
    const store = await opened(engine);
    const device = await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true });
    const created = await store.edgeJobs.create(job, at(1));
    const renamed = await store.edgeJobs.update(created.id, { name: "df", groupIds: [], environmentIds: [device.id] }, at(2));
    expect(renamed).toMatchObject({ name: "df", version: 1, groupIds: [], environmentIds: [device.id], updatedAt: at(2), createdAt: at(1) });
    expect((await store.edgeJobs.update(created.id, { script: "df -h /host", cronExpression: "0 * * * *", recurring: true }, at(3))).version).toBe(1);
    expect((await store.edgeJobs.update(created.id, { script: "du -sh /host/var" }, at(4))).version).toBe(2);
    expect((await store.edgeJobs.update(created.id, { cronExpression: "5 * * * *" }, at(5))).version).toBe(3);
    expect((await store.edgeJobs.update(created.id, { recurring: false }, at(6))).version).toBe(4);
    const missing = await store.edgeJobs.update(99, { name: "x" }, at(7)).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "not_found" });
  });

  it("finds the jobs of an environment through its explicit targets or its groups, with its logs status", async () => {
    const store = await opened(engine);
    const one = await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true });
    const two = await store.environments.create({ name: "edge-2", type: "edge-agent", userTrusted: true });
    const byGroup = await store.edgeJobs.create({ ...job, name: "by group", groupIds: [5] }, at(1));
    const explicit = await store.edgeJobs.create({ ...job, name: "explicit", groupIds: [], environmentIds: [two.id] }, at(1));
    expect((await store.edgeJobs.jobsFor(one.id, [])).map((entry) => entry.job.name)).toEqual([]);
    expect((await store.edgeJobs.jobsFor(one.id, [5])).map((entry) => entry.job.name)).toEqual(["by group"]);
    expect((await store.edgeJobs.jobsFor(two.id, [5, 6])).map((entry) => entry.job.name)).toEqual(["by group", "explicit"]);
    await store.edgeJobs.requestLogs(explicit.id, two.id);
    const forTwo = await store.edgeJobs.jobsFor(two.id, [5]);
    expect(forTwo.map((entry) => [entry.job.id, entry.logsStatus])).toEqual([
      [byGroup.id, logsStatuses.idle],
      [explicit.id, logsStatuses.pending],
    ]);
    // Another environment's task does not leak.
    expect((await store.edgeJobs.jobsFor(one.id, [5]))[0]?.logsStatus).toBe(logsStatuses.idle);
  });

  it("keeps a task's last run and its logs through request, collection and clearing", async () => {
    const store = await opened(engine);
    const device = await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true });
    const created = await store.edgeJobs.create({ ...job, environmentIds: [device.id] }, at(1));
    expect(await store.edgeJobs.recordRun(created.id, device.id, { version: 1, startedAt: at(10), finishedAt: at(11), exitCode: 3 })).toBe(true);
    expect(await store.edgeJobs.tasks(created.id)).toEqual([
      { jobId: created.id, environmentId: device.id, logsStatus: logsStatuses.idle, logsCollectedAt: null, lastRun: { version: 1, startedAt: at(10), finishedAt: at(11), exitCode: 3 } },
    ]);
    expect(await store.edgeJobs.logs(created.id, device.id)).toBeNull();
    // Output nobody asked for is not stored.
    expect(await store.edgeJobs.storeLogs(created.id, device.id, "unasked", at(15))).toBe(false);
    expect(await store.edgeJobs.logs(created.id, device.id)).toBeNull();
    await store.edgeJobs.requestLogs(created.id, device.id);
    expect((await store.edgeJobs.tasks(created.id))[0]).toMatchObject({ logsStatus: logsStatuses.pending, lastRun: { exitCode: 3 } });
    expect(await store.edgeJobs.storeLogs(created.id, device.id, "filesystem size used\n", at(20))).toBe(true);
    expect(await store.edgeJobs.logs(created.id, device.id)).toEqual({ content: "filesystem size used\n", collectedAt: at(20) });
    expect((await store.edgeJobs.tasks(created.id))[0]).toMatchObject({ logsStatus: logsStatuses.collected, logsCollectedAt: at(20) });
    // A later run keeps the collected output; only clearing forgets it.
    await store.edgeJobs.recordRun(created.id, device.id, { version: 1, startedAt: at(30), finishedAt: at(31), error: "no such image" });
    expect((await store.edgeJobs.tasks(created.id))[0]).toMatchObject({ logsStatus: logsStatuses.collected, lastRun: { startedAt: at(30), error: "no such image" } });
    await store.edgeJobs.clearLogs(created.id, device.id);
    expect(await store.edgeJobs.logs(created.id, device.id)).toBeNull();
    expect((await store.edgeJobs.tasks(created.id))[0]).toMatchObject({ logsStatus: logsStatuses.idle, logsCollectedAt: null });
  });

  it("stores 1 MiB of output and refuses one byte more; a task of a job or environment that is gone is not stored", async () => {
    const store = await opened(engine);
    const device = await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true });
    const created = await store.edgeJobs.create({ ...job, environmentIds: [device.id] }, at(1));
    const full = "x".repeat(maxStoredJobLogBytes);
    await store.edgeJobs.requestLogs(created.id, device.id);
    expect(await store.edgeJobs.storeLogs(created.id, device.id, full, at(2))).toBe(true);
    expect((await store.edgeJobs.logs(created.id, device.id))?.content).toHaveLength(maxStoredJobLogBytes);
    await expect(store.edgeJobs.storeLogs(created.id, device.id, `${full}y`, at(3))).rejects.toMatchObject({ code: "bad_request", field: "content" });
    expect(await store.edgeJobs.recordRun(999, device.id, { version: 1, startedAt: at(1), finishedAt: at(2) })).toBe(false);
    expect(await store.edgeJobs.requestLogs(created.id, 999)).toBe(false);
    // Removing the environment removes it from the job's targets and its tasks.
    await store.environments.delete(device.id);
    expect((await store.edgeJobs.get(created.id))?.environmentIds).toEqual([]);
    expect(await store.edgeJobs.tasks(created.id)).toEqual([]);
  });
});
