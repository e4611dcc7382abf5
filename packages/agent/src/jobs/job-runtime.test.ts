import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { DesiredJob, JobLogsUpload, JobRunReport, StackReport } from "@pier/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { parseDockerHost } from "../docker/docker-client.ts";
import type { FleetReporter, JobRuntime } from "../fleet/fleet-contracts.ts";
import { readDoneJobs, readLastOutput } from "./job-outputs.ts";
import { createJobRuntime } from "./job-runtime.ts";

const docker = parseDockerHost(process.env["DOCKER_HOST"]);

/** Keeps what the runtime reports, in order (the outbox's place). */
class RecordingReporter implements FleetReporter {
  readonly runs: JobRunReport[] = [];
  readonly logs: JobLogsUpload[] = [];
  stack(report: StackReport): void {
    void report;
  }
  job(run: JobRunReport): void {
    this.runs.push(run);
  }
  jobLogs(upload: JobLogsUpload): void {
    this.logs.push(upload);
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const jobId = 2_000_000 + Math.floor(Math.random() * 1_000_000);
// Six fields (seconds) for the test only: the server accepts five, croner on the agent takes both.
const everySecond = "* * * * * *";
const job = (overrides: Partial<DesiredJob> = {}): DesiredJob => ({ id: jobId, name: "tick", version: 1, cronExpression: everySecond, recurring: true, script: "echo tick", collectLogs: false, ...overrides });

/** The job runtime with real croner schedules and real containers on the machine's engine. */
describe("job runtime", () => {
  const dirs: string[] = [];
  const runtimes: JobRuntime[] = [];
  afterEach(async () => {
    for (const runtime of runtimes.splice(0)) await runtime.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function start(dataDir?: string) {
    const dir = dataDir ?? mkdtempSync(join(tmpdir(), "pier-jobs-"));
    if (dataDir === undefined) dirs.push(dir);
    const reporter = new RecordingReporter();
    const lines: string[] = [];
    // Stand-in for the privilege this machine's Docker cannot grant (see job-runner.test.ts).
    const runtime = createJobRuntime({ docker, dataDir: dir, reporter, log: { log: (_, message) => lines.push(message) }, image: "pier-test/busybox:latest", privileged: false });
    runtimes.push(runtime);
    return { dir, reporter, runtime, lines };
  }

  it("runs a recurring job on its schedule, reports each run and keeps the last output (0600); unlisted, it stops", async () => {
    const { dir, reporter, runtime } = start();
    runtime.update([job({ script: "date +%s; echo tick" })]);
    await until("two runs", () => reporter.runs.length >= 2);
    expect(reporter.runs[0]).toMatchObject({ jobId, version: 1, exitCode: 0 });
    expect(reporter.runs[1]!.startedAt).toBeGreaterThan(reporter.runs[0]!.startedAt);
    expect(await readLastOutput(dir, jobId)).toMatch(/^\d+\ntick\n$/);
    expect(statSync(join(dir, "fleet", "jobs", String(jobId), "last.log")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "fleet", "jobs", String(jobId))).mode & 0o777).toBe(0o700);
    runtime.update([]);
    await sleep(1_500);
    const count = reporter.runs.length;
    await sleep(2_500);
    expect(reporter.runs.length).toBe(count);
  }, 60_000);

  it("runs a one-off job once per version, and not again after a restart; a new version runs", async () => {
    const first = start();
    first.runtime.update([job({ recurring: false })]);
    await until("the run", () => first.reporter.runs.length === 1);
    expect(await readDoneJobs(first.dir)).toEqual({ [String(jobId)]: 1 });
    await sleep(2_500);
    expect(first.reporter.runs).toHaveLength(1);
    await first.runtime.close();
    // A restart: the same desired state, a new runtime on the same data directory.
    const second = start(first.dir);
    second.runtime.update([job({ recurring: false })]);
    await sleep(3_000);
    expect(second.reporter.runs).toHaveLength(0);
    second.runtime.update([job({ recurring: false, version: 2, script: "echo second" })]);
    await until("version 2's run", () => second.reporter.runs.length === 1);
    expect(second.reporter.runs[0]).toMatchObject({ version: 2, exitCode: 0 });
    expect(await readLastOutput(first.dir, jobId)).toBe("second\n");
  }, 60_000);

  it("uploads the last output once per log request, after the first run when there is none yet", async () => {
    const { reporter, runtime } = start();
    // Asked before any run: nothing to send until the job ran (a one-off, next second).
    runtime.update([job({ recurring: false, script: "echo collected", collectLogs: true })]);
    await until("the upload after the run", () => reporter.logs.length === 1);
    expect(reporter.logs[0]).toEqual({ jobId, content: "collected\n" });
    // The same request seen again (every 30 s pass) is not answered twice.
    runtime.update([job({ recurring: false, script: "echo collected", collectLogs: true })]);
    await sleep(500);
    expect(reporter.logs).toHaveLength(1);
    // The request ends (collected on the server), and a new one comes: uploaded again, at once.
    runtime.update([job({ recurring: false, script: "echo collected", collectLogs: false })]);
    runtime.update([job({ recurring: false, script: "echo collected", collectLogs: true })]);
    await until("the second upload", () => reporter.logs.length === 2);
    expect(reporter.runs).toHaveLength(1);
  }, 60_000);

  it("answers a log request again when it is still there after the retry interval (its end was missed while offline)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pier-jobs-"));
    dirs.push(dir);
    const reporter = new RecordingReporter();
    const runtime = createJobRuntime({ docker, dataDir: dir, reporter, log: { log: () => undefined }, image: "pier-test/busybox:latest", privileged: false, logsRetryMs: 1_000 });
    runtimes.push(runtime);
    runtime.update([job({ recurring: false, script: "echo once", collectLogs: true })]);
    await until("the upload after the run", () => reporter.logs.length === 1);
    runtime.update([job({ recurring: false, script: "echo once", collectLogs: true })]);
    expect(reporter.logs).toHaveLength(1);
    await sleep(1_100);
    runtime.update([job({ recurring: false, script: "echo once", collectLogs: true })]);
    await until("the upload again", () => reporter.logs.length === 2);
    expect(reporter.logs[1]).toEqual({ jobId, content: "once\n" });
  }, 60_000);

  it("reports a run that could not start, with the reason and no exit code", async () => {
    const reporter = new RecordingReporter();
    const dir = mkdtempSync(join(tmpdir(), "pier-jobs-"));
    dirs.push(dir);
    const failing = createJobRuntime({ docker, dataDir: dir, reporter, log: { log: () => undefined }, image: "pier-test/absent-image:1", privileged: false });
    runtimes.push(failing);
    failing.update([job({ recurring: false })]);
    await until("the failed run", () => reporter.runs.length === 1);
    expect(reporter.runs[0]?.exitCode).toBeUndefined();
    expect(reporter.runs[0]?.error).toContain("pier-test/absent-image");
  }, 60_000);
});
