import { fleetLimits } from "@pier/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeJobService } from "./edge-jobs.ts";
import { membership } from "./membership.ts";

/** The edge job service on a real SQLite store, with the desired-state changes it announces recorded. */
describe("edge job service", () => {
  let dir: TempDir | undefined;
  let store: (Store & AsyncDisposable) | undefined;
  afterEach(async () => {
    await store?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  async function setUp() {
    dir = tempDir("edge-job-service");
    store = await openStore({ path: dir.file("pier.db") });
    const changed: (readonly number[] | "all")[] = [];
    const jobs = new EdgeJobService({ store, membership: membership(store.edgeGroups), changes: { changed: (ids) => Promise.resolve(void changed.push(ids)) }, log: () => undefined });
    const one = (await store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true })).id;
    const two = (await store.environments.create({ name: "edge-2", type: "edge-agent", userTrusted: true })).id;
    const group = (await store.edgeGroups.create({ name: "sites", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [two] })).id;
    return { store, jobs, changed, one, two, group };
  }

  it("puts a job in the desired state of its explicit targets and its group's members, and announces them on every write", async () => {
    const { jobs, changed, one, two, group } = await setUp();
    const { job } = await jobs.create({ name: "df", cronExpression: "0 * * * *", recurring: false, script: "df -h /host", groupIds: [group], environmentIds: [one] }, "admin");
    expect(changed).toEqual([[one, two]]);
    const desired = { id: job.id, name: "df", version: 1, cronExpression: "0 * * * *", recurring: false, script: "df -h /host", collectLogs: false };
    expect(await jobs.desiredJobs(one)).toEqual([desired]);
    expect(await jobs.desiredJobs(two)).toEqual([desired]);
    // Leaving the explicit list: the environment before and after are both told.
    await jobs.update(job.id, { environmentIds: [] }, "admin");
    expect(changed.at(-1)).toEqual([one, two]);
    expect(await jobs.desiredJobs(one)).toEqual([]);
    await jobs.delete(job.id, "admin");
    expect(changed.at(-1)).toEqual([two]);
    expect(await jobs.desiredJobs(two)).toEqual([]);
  });

  it("sets collectLogs while the output is asked for, stores the upload (the last 1 MiB) and clears collectLogs, dropping an upload nobody asked for", async () => {
    const { store, jobs, changed, one } = await setUp();
    const { job } = await jobs.create({ name: "df", cronExpression: "0 * * * *", recurring: true, script: "df", groupIds: [], environmentIds: [one] }, "admin");
    await jobs.storeLogs(one, { jobId: job.id, content: "unasked" });
    expect(await jobs.logs(job.id, one)).toBe("");
    changed.length = 0;
    await jobs.requestLogs(job.id, one, "admin");
    expect(changed).toEqual([[one]]);
    expect((await jobs.desiredJobs(one))[0]?.collectLogs).toBe(true);
    const long = `${"é".repeat(10)}${"x".repeat(fleetLimits.jobLogBytes)}`;
    await jobs.storeLogs(one, { jobId: job.id, content: long });
    expect(changed).toEqual([[one], [one]]);
    expect((await jobs.desiredJobs(one))[0]?.collectLogs).toBe(false);
    expect(await jobs.logs(job.id, one)).toBe("x".repeat(fleetLimits.jobLogBytes));
    // A run report is kept; one for a job deleted meanwhile is dropped without failing the report.
    await jobs.recordRun(one, { jobId: job.id, version: 1, startedAt: 1_000, finishedAt: 2_000, exitCode: 1 });
    expect((await jobs.tasks(job.id))[0]?.lastRun).toEqual({ version: 1, startedAt: new Date(1_000), finishedAt: new Date(2_000), exitCode: 1 });
    await jobs.recordRun(one, { jobId: 999, version: 1, startedAt: 1_000, finishedAt: 2_000 });
    expect((await store.edgeJobs.tasks(999)).length).toBe(0);
  });
});
