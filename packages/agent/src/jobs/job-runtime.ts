import type { DesiredJob } from "@pier/protocol";
import { Cron } from "croner";
import type { DockerEndpoint } from "../docker/docker-client.ts";
import type { FleetReporter, JobRuntime } from "../fleet/fleet-contracts.ts";
import type { Logger } from "../logger.ts";
import { type DoneJobs, readDoneJobs, readLastOutput, writeDoneJobs, writeLastOutput } from "./job-outputs.ts";
import { type JobRunRequest, type JobRunResult, runJob } from "./job-runner.ts";

/** Options of `createJobRuntime`. */
export interface JobRuntimeOptions {
  readonly docker: DockerEndpoint;
  readonly dataDir: string;
  readonly reporter: FleetReporter;
  readonly log: Logger;
  /** The image job containers run (the agent's own, or `--job-image`). */
  readonly image: string;
  /** Default true (see `JobRunRequest.privileged`). */
  readonly privileged?: boolean;
  /** Default 1 h. */
  readonly timeoutMs?: number;
  /**
   * A log request still seen this long after its upload is answered again (default 5 min): the
   * desired state that ended it may have been missed while offline, and a later request for the
   * same job can then look identical. The server keeps an upload only while a request is pending.
   */
  readonly logsRetryMs?: number;
  /** Runs one job; default `runJob` (a container on the engine). */
  readonly run?: (request: JobRunRequest) => Promise<JobRunResult>;
}

/** One scheduled job; `cron` is set once its schedule is made (after reading what already ran). */
interface Scheduled {
  job: DesiredJob;
  cron?: Cron;
}

/** What makes a schedule different: a job whose other fields change (name, collectLogs) keeps its schedule. */
function scheduleKey(job: DesiredJob): string {
  return JSON.stringify([job.version, job.cronExpression, job.recurring, job.script]);
}

/**
 * The agent's edge jobs (docs/fleet.md "Edge jobs"): one croner schedule per job, in UTC, kept
 * whether the agent is connected or not (the jobs come from the desired state on disk). A
 * one-off job (`recurring: false`) runs once, at the next match, and is remembered as done for
 * its version in `DATA/fleet/jobs/state.json`, so a restart does not run it again. Each run is
 * reported (`FleetReporter.job`) and its output kept (`DATA/fleet/jobs/<id>/last.log`); when a job
 * asks for logs (`collectLogs`) the last output is uploaded once per request (right away, or
 * after the first run when there is none yet).
 *
 * @example
 * const jobs = createJobRuntime({ docker, dataDir: "/data", reporter: fleet.outbox, log, image: "portainer/pier-agent:1" });
 * jobs.update(desired.jobs);
 */
export function createJobRuntime(options: JobRuntimeOptions): JobRuntime {
  const run = options.run ?? runJob;
  const log = (level: "debug" | "info" | "warn" | "error", message: string) => options.log.log(level, message);
  const scheduled = new Map<number, Scheduled>();
  const running = new Set<Promise<void>>();
  /** Jobs whose current log request was answered, and when (cleared when the request ends). */
  const answered = new Map<number, number>();
  const logsRetryMs = options.logsRetryMs ?? 5 * 60 * 1000;
  /** Jobs whose log request waits for a first run. */
  const uploadAfterRun = new Set<number>();
  const stopping = new AbortController();
  let done: Promise<DoneJobs> = readDoneJobs(options.dataDir);
  let closed = false;

  const uploadLast = async (job: DesiredJob): Promise<void> => {
    const output = await readLastOutput(options.dataDir, job.id);
    if (output === undefined) {
      uploadAfterRun.add(job.id);
      log("info", `edge job ${job.name} (${job.id}): logs asked for; they will be sent after its first run here`);
      return;
    }
    uploadAfterRun.delete(job.id);
    options.reporter.jobLogs({ jobId: job.id, content: output });
    log("info", `edge job ${job.name} (${job.id}): last output queued for the server (${Buffer.byteLength(output)} bytes)`);
  };

  const execute = async (job: DesiredJob): Promise<void> => {
    log("info", `edge job ${job.name} (${job.id}) version ${job.version}: running`);
    const result = await run({
      docker: options.docker,
      image: options.image,
      jobId: job.id,
      version: job.version,
      script: job.script,
      signal: stopping.signal,
      ...(options.privileged === undefined ? {} : { privileged: options.privileged }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    try {
      await writeLastOutput(options.dataDir, job.id, result.output);
    } catch (error) {
      log("warn", `edge job ${job.name} (${job.id}): its output could not be kept in ${options.dataDir}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!job.recurring) {
      const record = { ...(await done), [String(job.id)]: job.version };
      done = Promise.resolve(record);
      await writeDoneJobs(options.dataDir, record).catch((error: unknown) => log("warn", `edge job ${job.id}: could not remember that it ran (${error instanceof Error ? error.message : String(error)}); it may run again after a restart`));
    }
    options.reporter.job({
      jobId: job.id,
      version: job.version,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
      ...(result.error === undefined ? {} : { error: result.error }),
    });
    const outcome = result.error ?? `exit code ${result.exitCode ?? "?"}`;
    log(result.error === undefined && result.exitCode === 0 ? "info" : "warn", `edge job ${job.name} (${job.id}) version ${job.version}: ${outcome}`);
    const current = scheduled.get(job.id)?.job;
    if (current && uploadAfterRun.has(job.id) && current.collectLogs) await uploadLast(current);
  };

  const schedule = async (job: DesiredJob, entry: Scheduled): Promise<void> => {
    const ran = !job.recurring && (await done)[String(job.id)] === job.version;
    // Replaced or unlisted while `done` was read: the newer entry schedules itself.
    if (ran || closed || scheduled.get(job.id) !== entry) return;
    let cron: Cron;
    try {
      cron = new Cron(job.cronExpression, { timezone: "UTC", protect: true, ...(job.recurring ? {} : { maxRuns: 1 }) }, () => {
        const activity = execute(job).catch((error: unknown) => log("error", `edge job ${job.id}: ${error instanceof Error ? error.message : String(error)}`));
        running.add(activity);
        return activity.finally(() => running.delete(activity));
      });
    } catch (error) {
      log("error", `edge job ${job.name} (${job.id}): its schedule "${job.cronExpression}" is invalid (${error instanceof Error ? error.message : String(error)}); it does not run`);
      return;
    }
    entry.cron = cron;
    log("info", `edge job ${job.name} (${job.id}) version ${job.version}: scheduled "${job.cronExpression}" UTC, next run ${cron.nextRun()?.toISOString() ?? "never"}`);
  };

  return {
    update(jobs) {
      if (closed) return;
      const listed = new Set(jobs.map((job) => job.id));
      for (const [id, entry] of scheduled) {
        if (!listed.has(id)) {
          entry.cron?.stop();
          scheduled.delete(id);
          answered.delete(id);
          uploadAfterRun.delete(id);
          log("info", `edge job ${entry.job.name} (${id}): no longer asked for; unscheduled`);
        }
      }
      for (const job of jobs) {
        const entry = scheduled.get(job.id);
        if (entry && scheduleKey(entry.job) === scheduleKey(job)) {
          entry.job = job;
        } else {
          entry?.cron?.stop();
          const next: Scheduled = { job };
          scheduled.set(job.id, next);
          void schedule(job, next).catch((error: unknown) => log("error", `edge job ${job.id}: ${error instanceof Error ? error.message : String(error)}`));
        }
        if (!job.collectLogs) {
          answered.delete(job.id);
          uploadAfterRun.delete(job.id);
        } else if (Date.now() - (answered.get(job.id) ?? -Infinity) >= logsRetryMs) {
          answered.set(job.id, Date.now());
          void uploadLast(job).catch((error: unknown) => log("warn", `edge job ${job.id}: its output could not be read: ${error instanceof Error ? error.message : String(error)}`));
        }
      }
    },
    async close() {
      closed = true;
      for (const entry of scheduled.values()) entry.cron?.stop();
      scheduled.clear();
      stopping.abort();
      await Promise.allSettled([...running]);
    },
  };
}
