import { type DesiredJob, type JobLogsUpload, type JobRunReport, fleetLimits } from "@pier/protocol";
import { Cron } from "croner";
import { ServerError } from "../errors.ts";
import { type EdgeJobInput, type EdgeJobRecord, type EdgeJobRun, type EdgeJobStore, type LogsStatus, logsStatuses } from "../store/edge-jobs.ts";
import type { EdgeGroupStore } from "../store/edge-groups.ts";
import type { AuditLog, EnvironmentStore } from "../store/store.ts";
import type { FleetChanges } from "./fleet-contracts.ts";
import type { Membership } from "./membership.ts";
import { checkFleetName, union } from "./tags.ts";

/** The bounds of an edge job's request (docs/fleet.md "Limits"). */
export const edgeJobLimits = {
  /** A cron expression, in characters. */
  cronExpression: 128,
  /** Environments listed explicitly (`endpoints`). */
  endpoints: 10_000,
  /** Edge groups (`edgeGroups`). */
  edgeGroups: 100,
} as const;

/** A job's task on one environment, as the API lists it. */
export interface EdgeJobTaskView {
  environmentId: number;
  logsStatus: LogsStatus;
  lastRun: EdgeJobRun | null;
}

/** A job with the logs status of each environment that has a task (explicit targets or group members). */
export interface EdgeJobDetails {
  job: EdgeJobRecord;
  /** Logs status per environment that has a task row; every other target is idle. */
  logsStatus: ReadonlyMap<number, LogsStatus>;
}

/** What the edge job service acts on. */
export interface EdgeJobServiceOptions {
  readonly store: { readonly edgeJobs: EdgeJobStore; readonly edgeGroups: Pick<EdgeGroupStore, "get">; readonly environments: Pick<EnvironmentStore, "getMany">; readonly audit: AuditLog };
  readonly membership: Membership;
  readonly changes: FleetChanges;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * Refuses (`bad_request` naming `cronExpression`, with croner's reason) an expression that is not
 * five fields (minute hour day-of-month month day-of-week, or croner's `@hourly`-style names),
 * or that never matches. Times are UTC on the device.
 *
 * @example
 * checkCronExpression("0 3 * * *"); // ok
 * checkCronExpression("61 * * * *"); // throws: Invalid value for minute: 61
 */
export function checkCronExpression(expression: string): void {
  const bad = (reason: string) =>
    new ServerError("bad_request", `cronExpression "${expression.slice(0, edgeJobLimits.cronExpression)}" is not a valid schedule: ${reason}.`, {
      field: "cronExpression",
      fix: 'Give five fields, minute hour day-of-month month day-of-week, in UTC: "0 3 * * *" runs at 03:00 every day.',
    });
  if (expression.trim() === "") throw bad("it is empty");
  if (expression.length > edgeJobLimits.cronExpression) throw bad(`it is ${expression.length} characters long; at most ${edgeJobLimits.cronExpression} are allowed`);
  let cron: Cron;
  try {
    cron = new Cron(expression, { paused: true, timezone: "UTC", mode: "5-part" });
  } catch (error) {
    throw bad((error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, ""));
  }
  if (cron.nextRun() === null) throw bad("it never matches a date");
}

/** Refuses an empty script or one over `fleetLimits.jobScriptBytes` bytes of UTF-8, naming `fileContent`. */
function checkScript(script: string): void {
  if (script.trim() === "") throw new ServerError("bad_request", "fileContent is empty; an edge job needs a script to run.", { field: "fileContent", fix: "Send the shell script the devices run." });
  const bytes = Buffer.byteLength(script);
  if (bytes > fleetLimits.jobScriptBytes) {
    throw new ServerError("bad_request", `fileContent is ${bytes} bytes; an edge job's script is at most ${fleetLimits.jobScriptBytes} bytes.`, {
      field: "fileContent",
      fix: "Make the script smaller: have it fetch or call a larger one already on the device.",
    });
  }
}

/**
 * Edge jobs (docs/fleet.md "Edge jobs"): validation and limits, the targets (explicit
 * environments and the members of edge groups), the desired-state source of jobs, the sinks of
 * runs and logs, and the desired-state changes each write makes.
 *
 * @example
 * const jobs = new EdgeJobService({ store, membership, changes, log });
 * const { job } = await jobs.create({ name: "df", cronExpression: "0 * * * *", recurring: true, script: "df -h /host", groupIds: [1], environmentIds: [] }, "admin");
 */
export class EdgeJobService {
  readonly #store: EdgeJobServiceOptions["store"];
  readonly #membership: Membership;
  readonly #changes: FleetChanges;
  readonly #log: EdgeJobServiceOptions["log"];

  constructor(options: EdgeJobServiceOptions) {
    this.#store = options.store;
    this.#membership = options.membership;
    this.#changes = options.changes;
    this.#log = options.log;
  }

  async list(): Promise<EdgeJobDetails[]> {
    const jobs = await this.#store.edgeJobs.list();
    return Promise.all(jobs.map((job) => this.#details(job)));
  }

  async get(id: number): Promise<EdgeJobDetails> {
    return this.#details(await this.#find(id));
  }

  /** `bad_request` naming the field for an invalid payload. */
  async create(request: EdgeJobInput, by: string): Promise<EdgeJobDetails> {
    await this.#check(request);
    const job = await this.#store.edgeJobs.create(request, new Date());
    await this.#store.audit.append({ kind: "edge_job_created", detail: { jobId: job.id, name: job.name, cronExpression: job.cronExpression, by } });
    await this.#changed(await this.targets(job));
    return this.#details(job);
  }

  /** Changes the given fields (Portainer's PUT); the targets before and after get a new desired state. */
  async update(id: number, changes: Partial<EdgeJobInput>, by: string): Promise<EdgeJobDetails> {
    const before = await this.#find(id);
    await this.#check({ ...before, ...changes });
    const beforeTargets = await this.targets(before);
    const job = await this.#store.edgeJobs.update(id, changes, new Date());
    await this.#store.audit.append({ kind: "edge_job_updated", detail: { jobId: id, name: job.name, version: job.version, by } });
    await this.#changed(union(beforeTargets, await this.targets(job)));
    return this.#details(job);
  }

  /** `not_found` when there is none; its targets stop running it. */
  async delete(id: number, by: string): Promise<void> {
    const job = await this.#find(id);
    const targets = await this.targets(job);
    if (!(await this.#store.edgeJobs.remove(id))) throw new ServerError("not_found", `Edge job ${id} does not exist.`);
    await this.#store.audit.append({ kind: "edge_job_deleted", detail: { jobId: id, name: job.name, by } });
    await this.#changed(targets);
  }

  /** The environments a job runs on: its explicit ones and the (associated) members of its groups, ascending. */
  async targets(job: Pick<EdgeJobRecord, "groupIds" | "environmentIds">): Promise<number[]> {
    const members = job.groupIds.length === 0 ? [] : await this.#membership.membersOf(job.groupIds);
    return union(job.environmentIds, members);
  }

  /** One task per target (Portainer's `GET /edge_jobs/{id}/tasks`), by environment. */
  async tasks(id: number): Promise<EdgeJobTaskView[]> {
    const job = await this.#find(id);
    const [targets, rows] = await Promise.all([this.targets(job), this.#store.edgeJobs.tasks(id)]);
    const byEnvironment = new Map(rows.map((row) => [row.environmentId, row]));
    return targets.map((environmentId) => {
      const row = byEnvironment.get(environmentId);
      return { environmentId, logsStatus: row?.logsStatus ?? logsStatuses.idle, lastRun: row?.lastRun ?? null };
    });
  }

  /** Asks the device for its last output of the job: the task is pending until it arrives. `not_found` unless the environment is a target. */
  async requestLogs(id: number, environmentId: number, by: string): Promise<void> {
    await this.#findTarget(id, environmentId);
    if (!(await this.#store.edgeJobs.requestLogs(id, environmentId))) throw new ServerError("not_found", `Edge job ${id} or environment ${environmentId} was removed meanwhile.`);
    await this.#store.audit.append({ kind: "edge_job_logs_requested", environmentId, detail: { jobId: id, by } });
    await this.#changed([environmentId]);
  }

  /** The output collected from the device (empty while none was). */
  async logs(id: number, environmentId: number): Promise<string> {
    await this.#find(id);
    return (await this.#store.edgeJobs.logs(id, environmentId))?.content ?? "";
  }

  /** Forgets the collected output; a pending request is withdrawn. */
  async clearLogs(id: number, environmentId: number): Promise<void> {
    await this.#find(id);
    const pending = (await this.#store.edgeJobs.tasks(id)).some((task) => task.environmentId === environmentId && task.logsStatus === logsStatuses.pending);
    await this.#store.edgeJobs.clearLogs(id, environmentId);
    if (pending) await this.#changed([environmentId]);
  }

  /** Names of the jobs using each of `groupIds` (edge groups show HasEdgeJob and refuse deletion). */
  namesByGroup(groupIds: readonly number[]): Promise<ReadonlyMap<number, readonly string[]>> {
    return this.#store.edgeJobs.namesByGroup(groupIds);
  }

  /**
   * `DesiredStateSources.jobs`: the jobs `environmentId` runs; `collectLogs` while its output is
   * asked for. `groupIds`: its groups when the caller read them already.
   */
  async desiredJobs(environmentId: number, groupIds?: readonly number[]): Promise<DesiredJob[]> {
    const groups = groupIds ?? (await this.#membership.groupsOf(environmentId));
    const jobs = await this.#store.edgeJobs.jobsFor(environmentId, groups);
    return jobs.map(({ job, logsStatus }) => ({
      id: job.id,
      name: job.name,
      version: job.version,
      cronExpression: job.cronExpression,
      recurring: job.recurring,
      script: job.script,
      collectLogs: logsStatus === logsStatuses.pending,
    }));
  }

  /** `FleetReportSinks.jobRun`: keeps the last run (a run of a job deleted meanwhile is dropped). */
  async recordRun(environmentId: number, run: JobRunReport): Promise<void> {
    const stored = await this.#store.edgeJobs.recordRun(run.jobId, environmentId, {
      version: run.version,
      startedAt: new Date(run.startedAt),
      finishedAt: new Date(run.finishedAt),
      ...(run.exitCode === undefined ? {} : { exitCode: run.exitCode }),
      ...(run.error === undefined ? {} : { error: run.error }),
    });
    if (!stored) this.#log("debug", `edge job ${run.jobId}: a run reported by environment ${environmentId} was dropped (the job is gone)`);
  }

  /**
   * `FleetReportSinks.jobLogs`: stores the output while it is asked for (pending), then the
   * device's desired state drops `collectLogs`. An upload nobody asked for (a repeat after the
   * operator cleared the logs) is dropped.
   */
  async storeLogs(environmentId: number, upload: JobLogsUpload): Promise<void> {
    const content = lastBytes(upload.content, fleetLimits.jobLogBytes);
    if (await this.#store.edgeJobs.storeLogs(upload.jobId, environmentId, content, new Date())) {
      await this.#changed([environmentId]);
    } else {
      this.#log("debug", `edge job ${upload.jobId}: logs from environment ${environmentId} were not asked for; dropped`);
    }
  }

  async #changed(environmentIds: readonly number[]): Promise<void> {
    if (environmentIds.length > 0) await this.#changes.changed(environmentIds);
  }

  async #find(id: number): Promise<EdgeJobRecord> {
    const job = await this.#store.edgeJobs.get(id);
    if (job === null) throw new ServerError("not_found", `Edge job ${id} does not exist.`, { fix: "List the edge jobs with GET /api/edge_jobs." });
    return job;
  }

  async #findTarget(id: number, environmentId: number): Promise<EdgeJobRecord> {
    const job = await this.#find(id);
    if (!(await this.targets(job)).includes(environmentId)) {
      throw new ServerError("not_found", `Environment ${environmentId} is not a target of edge job ${id}.`, { fix: `List the job's tasks with GET /api/edge_jobs/${id}/tasks.` });
    }
    return job;
  }

  async #details(job: EdgeJobRecord): Promise<EdgeJobDetails> {
    const tasks = await this.#store.edgeJobs.tasks(job.id);
    return { job, logsStatus: new Map(tasks.map((task) => [task.environmentId, task.logsStatus])) };
  }

  async #check(request: EdgeJobInput): Promise<void> {
    checkFleetName(request.name, "name", "edge job");
    checkCronExpression(request.cronExpression);
    checkScript(request.script);
    const groups = [...new Set(request.groupIds)];
    const environments = [...new Set(request.environmentIds)];
    if (groups.length > edgeJobLimits.edgeGroups) {
      throw new ServerError("bad_request", `edgeGroups lists ${groups.length} groups; an edge job targets at most ${edgeJobLimits.edgeGroups}.`, { field: "edgeGroups", fix: "Gather the devices in fewer groups (a dynamic group matches tags)." });
    }
    if (environments.length > edgeJobLimits.endpoints) {
      throw new ServerError("bad_request", `endpoints lists ${environments.length} environments; an edge job targets at most ${edgeJobLimits.endpoints} explicitly.`, { field: "endpoints", fix: "Target an edge group instead." });
    }
    if (groups.length === 0 && environments.length === 0) {
      throw new ServerError("bad_request", "An edge job needs at least one target: edgeGroups or endpoints.", { field: "edgeGroups", fix: "List the edge groups or the environments the job runs on." });
    }
    const found = await this.#store.environments.getMany(environments);
    const known = new Set(found.map((environment) => environment.id));
    const missing = environments.filter((id) => !known.has(id));
    if (missing.length > 0) {
      throw new ServerError("bad_request", `Environment${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? "…" : ""} in endpoints do${missing.length === 1 ? "es" : ""} not exist.`, {
        field: "endpoints",
        details: { missing: missing.slice(0, 100) },
        fix: "List the environments with GET /api/endpoints.",
      });
    }
    const waiting = found.filter((environment) => !environment.userTrusted).map((environment) => environment.id);
    if (waiting.length > 0) {
      throw new ServerError("bad_request", `Environment${waiting.length === 1 ? "" : "s"} ${waiting.slice(0, 20).join(", ")} in endpoints ${waiting.length === 1 ? "is" : "are"} in the waiting room; a job runs only on associated devices.`, {
        field: "endpoints",
        details: { waiting: waiting.slice(0, 100) },
        fix: "Associate the device first (PUT /api/endpoints/{id} {UserTrusted: true}).",
      });
    }
    const unknownGroups: number[] = [];
    for (const id of groups) if ((await this.#store.edgeGroups.get(id)) === null) unknownGroups.push(id);
    if (unknownGroups.length > 0) {
      throw new ServerError("bad_request", `Edge group${unknownGroups.length === 1 ? "" : "s"} ${unknownGroups.slice(0, 20).join(", ")} in edgeGroups do${unknownGroups.length === 1 ? "es" : ""} not exist.`, {
        field: "edgeGroups",
        details: { missing: unknownGroups.slice(0, 100) },
        fix: "List the edge groups with GET /api/edge_groups.",
      });
    }
  }
}

/** The last `maxBytes` bytes of `text` as UTF-8, cut at a character boundary. */
function lastBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let start = bytes.length - maxBytes;
  // Skip UTF-8 continuation bytes (10xxxxxx) so the cut does not split a character.
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start += 1;
  return bytes.subarray(start).toString();
}
