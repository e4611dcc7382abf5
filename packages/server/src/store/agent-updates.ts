import type { SqlDatabase } from "./database.ts";
import { type Row, integer, text, textOrNull } from "./row-readers.ts";
import { isUniqueViolation } from "./store-errors.ts";
import { ServerError } from "../errors.ts";

/** An agent update schedule (docs/fleet.md "Agent updates"). */
export interface AgentUpdateSchedule {
  id: number;
  name: string;
  image: string;
  groupIds: number[];
  deadlineSeconds: number;
  createdAt: Date;
}

/** What one device reported for a schedule. */
export interface AgentUpdateProgress {
  scheduleId: number;
  environmentId: number;
  status: "updated" | "rolled_back" | "failed";
  agentVersion: string;
  error: string | null;
  updatedAt: Date;
}

/** Schedules kept at most (each is read by every desired-state computation). */
export const maxAgentUpdateSchedules = 50;

/** Agent update schedules and per-device progress. */
export interface AgentUpdateStore {
  /** `conflict` (field `name`) when the name is taken or `maxAgentUpdateSchedules` exist. */
  create(fields: Omit<AgentUpdateSchedule, "id" | "createdAt">, at: Date): Promise<AgentUpdateSchedule>;
  get(id: number): Promise<AgentUpdateSchedule | null>;
  /** Every schedule, newest first. */
  list(): Promise<AgentUpdateSchedule[]>;
  /** False when there was none. Progress goes with it. */
  delete(id: number): Promise<boolean>;
  /** Progress of one schedule, by environment id. */
  progress(scheduleId: number): Promise<AgentUpdateProgress[]>;
  /** Progress of one environment for the given schedules. */
  progressOf(environmentId: number, scheduleIds: readonly number[]): Promise<AgentUpdateProgress[]>;
  /** Writes a device's result (a later one replaces it). False when the schedule is gone. */
  record(progress: AgentUpdateProgress): Promise<boolean>;
}

function decodeSchedule(row: Row): AgentUpdateSchedule {
  const groups = JSON.parse(text(row, "group_ids")) as unknown;
  return {
    id: integer(row, "id"),
    name: text(row, "name"),
    image: text(row, "image"),
    groupIds: Array.isArray(groups) ? groups.filter((id): id is number => Number.isSafeInteger(id)) : [],
    deadlineSeconds: integer(row, "deadline_seconds"),
    createdAt: new Date(integer(row, "created_at")),
  };
}

function decodeProgress(row: Row): AgentUpdateProgress {
  return {
    scheduleId: integer(row, "schedule_id"),
    environmentId: integer(row, "environment_id"),
    status: text(row, "status") as AgentUpdateProgress["status"],
    agentVersion: text(row, "agent_version"),
    error: textOrNull(row, "error"),
    updatedAt: new Date(integer(row, "updated_at")),
  };
}

/** `AgentUpdateStore` over kysely (SQLite and PostgreSQL). */
export class SqlAgentUpdates implements AgentUpdateStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async create(fields: Omit<AgentUpdateSchedule, "id" | "createdAt">, at: Date): Promise<AgentUpdateSchedule> {
    try {
      return await this.#database.run((db) =>
        db.transaction().execute(async (trx) => {
          const { count } = await trx.selectFrom("agent_update_schedules").select((eb) => eb.fn.countAll().as("count")).executeTakeFirstOrThrow();
          if (Number(count) >= maxAgentUpdateSchedules) throw new ServerError("conflict", `At most ${maxAgentUpdateSchedules} agent update schedules are kept.`, { field: "name", fix: "Delete schedules that are done." });
          const { id } = await trx
            .insertInto("agent_update_schedules")
            .values({ name: fields.name, image: fields.image, group_ids: JSON.stringify(fields.groupIds), deadline_seconds: fields.deadlineSeconds, created_at: at.getTime() })
            .returning("id")
            .executeTakeFirstOrThrow();
          return decodeSchedule(await trx.selectFrom("agent_update_schedules").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
        }),
      );
    } catch (error) {
      if (error instanceof ServerError) throw error;
      if (isUniqueViolation((error as { cause?: unknown }).cause ?? error)) throw new ServerError("conflict", `An agent update schedule named "${fields.name}" already exists.`, { field: "name", fix: "Choose another name." });
      throw error;
    }
  }

  get(id: number): Promise<AgentUpdateSchedule | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("agent_update_schedules").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : decodeSchedule(row);
    });
  }

  list(): Promise<AgentUpdateSchedule[]> {
    return this.#database.run(async (db) => (await db.selectFrom("agent_update_schedules").selectAll().orderBy("id", "desc").execute()).map(decodeSchedule));
  }

  delete(id: number): Promise<boolean> {
    return this.#database.run(async (db) => Number((await db.deleteFrom("agent_update_schedules").where("id", "=", id).executeTakeFirst()).numDeletedRows) > 0);
  }

  progress(scheduleId: number): Promise<AgentUpdateProgress[]> {
    return this.#database.run(async (db) => (await db.selectFrom("agent_update_progress").selectAll().where("schedule_id", "=", scheduleId).orderBy("environment_id").execute()).map(decodeProgress));
  }

  progressOf(environmentId: number, scheduleIds: readonly number[]): Promise<AgentUpdateProgress[]> {
    if (scheduleIds.length === 0) return Promise.resolve([]);
    return this.#database.run(async (db) =>
      (await db.selectFrom("agent_update_progress").selectAll().where("environment_id", "=", environmentId).where("schedule_id", "in", [...scheduleIds]).execute()).map(decodeProgress),
    );
  }

  record(progress: AgentUpdateProgress): Promise<boolean> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const schedule = await trx.selectFrom("agent_update_schedules").select("id").where("id", "=", progress.scheduleId).executeTakeFirst();
        if (!schedule) return false;
        const values = { status: progress.status, agent_version: progress.agentVersion, error: progress.error, updated_at: progress.updatedAt.getTime() };
        await trx
          .insertInto("agent_update_progress")
          .values({ schedule_id: progress.scheduleId, environment_id: progress.environmentId, ...values })
          .onConflict((conflict) => conflict.columns(["schedule_id", "environment_id"]).doUpdateSet(values))
          .execute();
        return true;
      }),
    );
  }
}
