import type { Transaction } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import type { Database } from "./schema.ts";
import { columnReaders, isRecord, type Row } from "./row-readers.ts";
import { isForeignKeyViolation } from "./store-errors.ts";

/** Portainer's `LogsStatus` of one job on one environment. */
export const logsStatuses = { idle: 1, pending: 2, collected: 3 } as const;
export type LogsStatus = (typeof logsStatuses)[keyof typeof logsStatuses];

/** An edge job as stored: a script, its schedule, and whom it targets. */
export interface EdgeJobRecord {
  id: number;
  name: string;
  /** Five-field cron expression, in UTC. */
  cronExpression: string;
  recurring: boolean;
  script: string;
  /** 1 at creation; +1 when the script, schedule or recurrence changes. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** Edge groups targeted, ascending. */
  groupIds: number[];
  /** Environments targeted explicitly, ascending. */
  environmentIds: number[];
}

/** The fields of a job the operator sets. */
export type EdgeJobInput = Pick<EdgeJobRecord, "name" | "cronExpression" | "recurring" | "script" | "groupIds" | "environmentIds">;

/** The last run a device reported for a job. */
export interface EdgeJobRun {
  /** The job's version that ran. */
  version: number;
  startedAt: Date;
  finishedAt: Date;
  exitCode?: number;
  error?: string;
}

/** What happened for one job on one environment (no row: idle, never ran). */
export interface EdgeJobTask {
  jobId: number;
  environmentId: number;
  logsStatus: LogsStatus;
  logsCollectedAt: Date | null;
  lastRun: EdgeJobRun | null;
}

/** A job one environment must run, with whether its output was asked for. */
export interface EnvironmentEdgeJob {
  job: EdgeJobRecord;
  logsStatus: LogsStatus;
}

/** Largest collected output kept per task (the column's CHECK says the same in characters). */
export const maxStoredJobLogBytes = 1024 * 1024;

/**
 * Edge jobs, their targets and their per-environment tasks (migration 14). Validation of what an
 * operator sends is the domain's (`fleet/edge-jobs.ts`); this only stores it.
 */
export interface EdgeJobStore {
  /** Inserts a job at version 1; `bad_request` naming `endpoints` if an environment does not exist. */
  create(input: EdgeJobInput, at: Date): Promise<EdgeJobRecord>;
  get(id: number): Promise<EdgeJobRecord | null>;
  /** Every job, by id. */
  list(): Promise<EdgeJobRecord[]>;
  /**
   * Replaces the given fields (targets as whole sets) in one transaction; the version grows by
   * one when the script, schedule or recurrence changes. `not_found` when the job is gone.
   */
  update(id: number, changes: Partial<EdgeJobInput>, at: Date): Promise<EdgeJobRecord>;
  /** Deletes the job with its targets and tasks; false when there was none. */
  remove(id: number): Promise<boolean>;
  /** The jobs targeting `environmentId` explicitly or through one of `groupIds`, by id, with its logs status. */
  jobsFor(environmentId: number, groupIds: readonly number[]): Promise<EnvironmentEdgeJob[]>;
  /** The ids of the jobs that target edge group `groupId` (an edge group in use is not deleted). */
  jobsUsingGroup(groupId: number): Promise<number[]>;
  /** The names of the jobs targeting each of `groupIds` (groups no job uses are absent). */
  namesByGroup(groupIds: readonly number[]): Promise<Map<number, string[]>>;
  /** The task rows of a job, by environment. */
  tasks(jobId: number): Promise<EdgeJobTask[]>;
  /** Stores the last run; false (nothing stored) when the job or the environment is gone. */
  recordRun(jobId: number, environmentId: number, run: EdgeJobRun): Promise<boolean>;
  /** Sets the task pending (2), keeping collected logs until new ones arrive; false when the job or environment is gone. */
  requestLogs(jobId: number, environmentId: number): Promise<boolean>;
  /** Stores the device's output and sets the task collected (3), only while it is pending (2); false otherwise. */
  storeLogs(jobId: number, environmentId: number, content: string, at: Date): Promise<boolean>;
  /** Forgets the output and sets the task idle (1). */
  clearLogs(jobId: number, environmentId: number): Promise<void>;
  /** The collected output of a task, `null` when none is stored. */
  logs(jobId: number, environmentId: number): Promise<{ content: string; collectedAt: Date } | null>;
}

const { textOf, integerOf } = columnReaders((column) => new ServerError("store_failed", `The database holds an unreadable edge job row (column ${column}); restore a backup or remove the job.`));

function millis(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(value)) throw new ServerError("bad_request", `${field} must be a valid Date.`, { field });
  return value;
}

function logsStatusOf(row: Row): LogsStatus {
  const value = integerOf(row, "logs_status");
  if (value !== 1 && value !== 2 && value !== 3) throw new ServerError("store_failed", "The database holds an edge job task with an unknown logs_status; restore a backup or remove the task.");
  return value;
}

function runOf(row: Row): EdgeJobRun | null {
  const value = row["last_run"];
  if (value === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(textOf(row, "last_run"));
  } catch {
    parsed = undefined;
  }
  const bad = () => new ServerError("store_failed", "The database holds an unreadable edge job task (column last_run); restore a backup or remove the task.");
  if (!isRecord(parsed)) throw bad();
  const { version, startedAt, finishedAt, exitCode, error } = parsed;
  if (typeof version !== "number" || typeof startedAt !== "number" || typeof finishedAt !== "number") throw bad();
  return {
    version,
    startedAt: new Date(startedAt),
    finishedAt: new Date(finishedAt),
    ...(typeof exitCode === "number" ? { exitCode } : {}),
    ...(typeof error === "string" ? { error } : {}),
  };
}

function taskOf(row: Row): EdgeJobTask {
  const collected = row["logs_collected_at"];
  return {
    jobId: integerOf(row, "job_id"),
    environmentId: integerOf(row, "environment_id"),
    logsStatus: logsStatusOf(row),
    logsCollectedAt: collected === null ? null : new Date(integerOf(row, "logs_collected_at")),
    lastRun: runOf(row),
  };
}

function ids(values: readonly number[], field: string): number[] {
  for (const value of values) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new ServerError("bad_request", `${field} must hold positive integers.`, { field });
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Rows per multi-row insert (2 parameters each: far below both engines' limits). */
const insertBatch = 1_000;

/**
 * `EdgeJobStore` on the store's database, the same queries for SQLite and PostgreSQL.
 *
 * @example
 * const job = await store.edgeJobs.create({ name: "df", cronExpression: "0 * * * *", recurring: true, script: "df -h", groupIds: [1], environmentIds: [] }, new Date());
 */
export class SqlEdgeJobs implements EdgeJobStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async create(input: EdgeJobInput, at: Date): Promise<EdgeJobRecord> {
    const now = millis(at, "at");
    const groupIds = ids(input.groupIds, "edgeGroups");
    const environmentIds = ids(input.environmentIds, "endpoints");
    const id = await this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto("edge_jobs")
          .values({ name: input.name, cron_expression: input.cronExpression, recurring: input.recurring ? 1 : 0, script: input.script, version: 1, created_at: now, updated_at: now })
          .returning("id")
          .executeTakeFirstOrThrow();
        await this.#insertTargets(trx, row.id, groupIds, environmentIds);
        return row.id;
      }),
    );
    const job = await this.get(id);
    if (job === null) throw new ServerError("store_failed", `Edge job ${id} vanished right after its creation; try again.`);
    return job;
  }

  async #insertTargets(trx: Transaction<Database>, jobId: number, groupIds: readonly number[], environmentIds: readonly number[]): Promise<void> {
    for (let start = 0; start < groupIds.length; start += insertBatch) {
      await trx
        .insertInto("edge_job_groups")
        .values(groupIds.slice(start, start + insertBatch).map((group_id) => ({ job_id: jobId, group_id })))
        .execute();
    }
    try {
      for (let start = 0; start < environmentIds.length; start += insertBatch) {
        await trx
          .insertInto("edge_job_environments")
          .values(environmentIds.slice(start, start + insertBatch).map((environment_id) => ({ job_id: jobId, environment_id })))
          .execute();
      }
    } catch (error) {
      if (isForeignKeyViolation(error)) {
        throw new ServerError("bad_request", "endpoints names an environment that does not exist.", { field: "endpoints", fix: "List environments with GET /api/endpoints and send existing ids.", cause: error });
      }
      throw error;
    }
  }

  async get(id: number): Promise<EdgeJobRecord | null> {
    return (await this.#read([id]))[0] ?? null;
  }

  list(): Promise<EdgeJobRecord[]> {
    return this.#read();
  }

  /** Jobs by id (all when `only` is absent), with their targets. */
  #read(only?: readonly number[]): Promise<EdgeJobRecord[]> {
    if (only !== undefined && only.length === 0) return Promise.resolve([]);
    return this.#database.run(async (db) => {
      let jobs = db.selectFrom("edge_jobs").selectAll();
      let groups = db.selectFrom("edge_job_groups").selectAll();
      let environments = db.selectFrom("edge_job_environments").selectAll();
      if (only !== undefined) {
        jobs = jobs.where("id", "in", only);
        groups = groups.where("job_id", "in", only);
        environments = environments.where("job_id", "in", only);
      }
      const [jobRows, groupRows, environmentRows] = [await jobs.orderBy("id").execute(), await groups.orderBy("group_id").execute(), await environments.orderBy("environment_id").execute()];
      const groupsOf = new Map<number, number[]>();
      for (const row of groupRows) groupsOf.set(row.job_id, [...(groupsOf.get(row.job_id) ?? []), row.group_id]);
      const environmentsOf = new Map<number, number[]>();
      for (const row of environmentRows) {
        const list = environmentsOf.get(row.job_id);
        if (list === undefined) environmentsOf.set(row.job_id, [row.environment_id]);
        else list.push(row.environment_id);
      }
      return jobRows.map((row) => {
        const id = integerOf(row, "id");
        return {
          id,
          name: textOf(row, "name"),
          cronExpression: textOf(row, "cron_expression"),
          recurring: integerOf(row, "recurring") === 1,
          script: textOf(row, "script"),
          version: integerOf(row, "version"),
          createdAt: new Date(integerOf(row, "created_at")),
          updatedAt: new Date(integerOf(row, "updated_at")),
          groupIds: groupsOf.get(id) ?? [],
          environmentIds: environmentsOf.get(id) ?? [],
        };
      });
    });
  }

  async update(id: number, changes: Partial<EdgeJobInput>, at: Date): Promise<EdgeJobRecord> {
    const now = millis(at, "at");
    const groupIds = changes.groupIds === undefined ? undefined : ids(changes.groupIds, "edgeGroups");
    const environmentIds = changes.environmentIds === undefined ? undefined : ids(changes.environmentIds, "endpoints");
    await this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const current = await trx.selectFrom("edge_jobs").select(["cron_expression", "recurring", "script", "version"]).where("id", "=", id).executeTakeFirst();
        if (current === undefined) throw new ServerError("not_found", `Edge job ${id} does not exist.`, { fix: "List edge jobs with GET /api/edge_jobs." });
        const runsDiffer =
          (changes.cronExpression !== undefined && changes.cronExpression !== current.cron_expression) ||
          (changes.recurring !== undefined && (changes.recurring ? 1 : 0) !== current.recurring) ||
          (changes.script !== undefined && changes.script !== current.script);
        await trx
          .updateTable("edge_jobs")
          .set({
            ...(changes.name === undefined ? {} : { name: changes.name }),
            ...(changes.cronExpression === undefined ? {} : { cron_expression: changes.cronExpression }),
            ...(changes.recurring === undefined ? {} : { recurring: changes.recurring ? 1 : 0 }),
            ...(changes.script === undefined ? {} : { script: changes.script }),
            version: runsDiffer ? current.version + 1 : current.version,
            updated_at: now,
          })
          .where("id", "=", id)
          .execute();
        if (groupIds !== undefined) await trx.deleteFrom("edge_job_groups").where("job_id", "=", id).execute();
        if (environmentIds !== undefined) await trx.deleteFrom("edge_job_environments").where("job_id", "=", id).execute();
        await this.#insertTargets(trx, id, groupIds ?? [], environmentIds ?? []);
      }),
    );
    const job = await this.get(id);
    if (job === null) throw new ServerError("not_found", `Edge job ${id} was deleted meanwhile.`);
    return job;
  }

  remove(id: number): Promise<boolean> {
    return this.#database.run(async (db) => (await db.deleteFrom("edge_jobs").where("id", "=", id).executeTakeFirst()).numDeletedRows > 0n);
  }

  async jobsFor(environmentId: number, groupIds: readonly number[]): Promise<EnvironmentEdgeJob[]> {
    const groups = ids(groupIds, "groupIds");
    const jobIds = await this.#database.run(async (db) => {
      let query = db
        .selectFrom("edge_jobs")
        .select("id")
        .where((eb) => {
          const explicit = eb.exists(eb.selectFrom("edge_job_environments").select("job_id").whereRef("edge_job_environments.job_id", "=", "edge_jobs.id").where("edge_job_environments.environment_id", "=", environmentId));
          if (groups.length === 0) return explicit;
          return eb.or([explicit, eb.exists(eb.selectFrom("edge_job_groups").select("job_id").whereRef("edge_job_groups.job_id", "=", "edge_jobs.id").where("edge_job_groups.group_id", "in", groups))]);
        });
      query = query.orderBy("id");
      return (await query.execute()).map((row) => row.id);
    });
    if (jobIds.length === 0) return [];
    const [jobs, statuses] = await Promise.all([
      this.#read(jobIds),
      this.#database.run((db) => db.selectFrom("edge_job_tasks").select(["job_id", "logs_status"]).where("environment_id", "=", environmentId).where("job_id", "in", jobIds).execute()),
    ]);
    const statusOf = new Map(statuses.map((row) => [row.job_id, logsStatusOf(row)]));
    return jobs.map((job) => ({ job, logsStatus: statusOf.get(job.id) ?? logsStatuses.idle }));
  }

  jobsUsingGroup(groupId: number): Promise<number[]> {
    return this.#database.run(async (db) => (await db.selectFrom("edge_job_groups").select("job_id").where("group_id", "=", groupId).orderBy("job_id").execute()).map((row) => row.job_id));
  }

  async namesByGroup(groupIds: readonly number[]): Promise<Map<number, string[]>> {
    const groups = ids(groupIds, "groupIds");
    const names = new Map<number, string[]>();
    if (groups.length === 0) return names;
    const rows = await this.#database.run((db) =>
      db.selectFrom("edge_job_groups").innerJoin("edge_jobs", "edge_jobs.id", "edge_job_groups.job_id").select(["edge_job_groups.group_id", "edge_jobs.name"]).where("edge_job_groups.group_id", "in", groups).orderBy("edge_jobs.id").execute(),
    );
    for (const row of rows) names.set(row.group_id, [...(names.get(row.group_id) ?? []), row.name]);
    return names;
  }

  tasks(jobId: number): Promise<EdgeJobTask[]> {
    return this.#database.run(async (db) =>
      (await db.selectFrom("edge_job_tasks").select(["job_id", "environment_id", "logs_status", "logs_collected_at", "last_run"]).where("job_id", "=", jobId).orderBy("environment_id").execute()).map(taskOf),
    );
  }

  async recordRun(jobId: number, environmentId: number, run: EdgeJobRun): Promise<boolean> {
    const lastRun = JSON.stringify({
      version: run.version,
      startedAt: millis(run.startedAt, "startedAt"),
      finishedAt: millis(run.finishedAt, "finishedAt"),
      ...(run.exitCode === undefined ? {} : { exitCode: run.exitCode }),
      ...(run.error === undefined ? {} : { error: run.error }),
    });
    return this.#upsert(jobId, environmentId, { logs_status: logsStatuses.idle, last_run: lastRun }, { last_run: lastRun });
  }

  requestLogs(jobId: number, environmentId: number): Promise<boolean> {
    return this.#upsert(jobId, environmentId, { logs_status: logsStatuses.pending }, { logs_status: logsStatuses.pending });
  }

  async storeLogs(jobId: number, environmentId: number, content: string, at: Date): Promise<boolean> {
    if (Buffer.byteLength(content) > maxStoredJobLogBytes) {
      throw new ServerError("bad_request", `A job's output is at most ${maxStoredJobLogBytes} bytes; ${Buffer.byteLength(content)} were sent.`, { field: "content" });
    }
    const collected = { logs_status: logsStatuses.collected, logs: content, logs_collected_at: millis(at, "at") };
    return this.#database.run(async (db) => {
      const result = await db.updateTable("edge_job_tasks").set(collected).where("job_id", "=", jobId).where("environment_id", "=", environmentId).where("logs_status", "=", logsStatuses.pending).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  async clearLogs(jobId: number, environmentId: number): Promise<void> {
    await this.#database.run((db) => db.updateTable("edge_job_tasks").set({ logs_status: logsStatuses.idle, logs: null, logs_collected_at: null }).where("job_id", "=", jobId).where("environment_id", "=", environmentId).execute());
  }

  logs(jobId: number, environmentId: number): Promise<{ content: string; collectedAt: Date } | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("edge_job_tasks").select(["logs", "logs_collected_at"]).where("job_id", "=", jobId).where("environment_id", "=", environmentId).executeTakeFirst();
      if (row === undefined || row.logs === null) return null;
      return { content: textOf(row, "logs"), collectedAt: new Date(integerOf(row, "logs_collected_at")) };
    });
  }

  /** Inserts the task row with `insert`, or sets `update` on the existing one; false when the job or environment is gone. */
  async #upsert(
    jobId: number,
    environmentId: number,
    insert: { logs_status: number; last_run?: string },
    update: { logs_status?: number; last_run?: string },
  ): Promise<boolean> {
    return this.#database.run(async (db) => {
      try {
        await db
          .insertInto("edge_job_tasks")
          .values({ job_id: jobId, environment_id: environmentId, logs: null, logs_collected_at: null, last_run: null, ...insert })
          .onConflict((conflict) => conflict.columns(["job_id", "environment_id"]).doUpdateSet(update))
          .execute();
        return true;
      } catch (error) {
        if (isForeignKeyViolation(error)) return false;
        throw error;
      }
    });
  }
}
