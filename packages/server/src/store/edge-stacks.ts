import { type Kysely, type Transaction, sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import type { RolloutOptions } from "./edge-stack-rollouts.ts";
import type { Database } from "./schema.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./store-errors.ts";
import type { StoreTransaction } from "./store.ts";

/** One environment variable of a stack (`${NAME}` in its compose file), Portainer's `{name, value}`. */
export interface EdgeStackEnvVar {
  name: string;
  value: string;
}

/** An edge stack at its latest version (docs/fleet.md "Edge stacks"). */
export interface EdgeStackRecord {
  id: number;
  /** A Compose project name (`stackNamePattern`), unique. */
  name: string;
  /** The latest version; grows by one with each update that changes what devices run. */
  version: number;
  /** 0: Docker Compose (Portainer's `DeploymentType`). */
  deploymentType: 0;
  createdAt: Date;
  updatedAt: Date;
  /** The edge groups it is deployed to, ascending. */
  groupIds: number[];
  /** The latest version's compose file, variables and registries. */
  composeFile: string;
  envVars: EdgeStackEnvVar[];
  registryIds: number[];
}

/** One stored version of a stack (every version is kept). */
export interface EdgeStackVersionRecord {
  stackId: number;
  version: number;
  composeFile: string;
  envVars: EdgeStackEnvVar[];
  registryIds: number[];
  createdAt: Date;
}

/** A status transition as Portainer lists it (`Status["<envId>"].Status[]`): type number, Unix seconds, error text. */
export interface EdgeStackTransition {
  type: number;
  time: number;
  error?: string;
  /** With RolledBack (13): the version running again (Portainer's `RollbackTo`). */
  rollbackTo?: number;
}

/** What one environment reported last about one stack. */
export interface EdgeStackStatusRecord {
  stackId: number;
  environmentId: number;
  /** The version the transitions are about. */
  version: number;
  /** Oldest first. */
  transitions: EdgeStackTransition[];
  /** Set once the device reported RolledBack: the version it runs again. */
  rolledBackTo: number | null;
  updatedAt: Date;
}

/** A stack an environment must run, at the version targeted for it (`desiredFor`). */
export interface TargetedStack {
  id: number;
  name: string;
  version: number;
  deploymentType: 0;
  composeFile: string;
  envVars: EdgeStackEnvVar[];
  registryIds: number[];
}

/** A staged update of a stack (`edge_stack_rollouts`), written by a rollout engine (not built yet). */
export interface EdgeStackRolloutRecord {
  stackId: number;
  /** The version being rolled out; environments not released keep `previousVersion`. */
  version: number;
  previousVersion: number;
  state: "running" | "paused" | "aborted" | "completed";
  batchSize: number | null;
  batchPercent: number | null;
  waitSeconds: number;
  failureThreshold: number;
  startedAt: Date;
  releasedAt: Date | null;
  /** Environments released to `version` so far (`edge_stack_targets`). */
  released: number;
}

/** What `create` stores (validated by the caller: `fleet/edge-stacks/edge-stack-service.ts`). */
export interface NewEdgeStack {
  name: string;
  composeFile: string;
  envVars: readonly EdgeStackEnvVar[];
  registryIds: readonly number[];
  groupIds: readonly number[];
}

/** What `update` changes: the whole content and groups (Portainer's PUT replaces them). */
export interface EdgeStackChange {
  composeFile: string;
  envVars: readonly EdgeStackEnvVar[];
  registryIds: readonly number[];
  groupIds: readonly number[];
  /** Make a new version even when file, variables and registries are unchanged (`updateVersion`: redeploy). */
  forceNewVersion: boolean;
  /** Stage the new version (docs/fleet.md "Rollouts"): its rollout row is written in the same transaction. */
  rollout?: RolloutOptions;
}

/** Edge stacks, their versions, groups and per-device status (migration 12). Inside `transaction` (an audit entry's, `AuditLog.append`), a write commits with it. */
export interface EdgeStackStore {
  /** Stores a stack at version 1; `conflict` naming the field if the name is taken. */
  create(input: NewEdgeStack, at: Date, transaction?: StoreTransaction): Promise<EdgeStackRecord>;
  get(id: number): Promise<EdgeStackRecord | null>;
  /** Every stack, by id. */
  list(): Promise<EdgeStackRecord[]>;
  /**
   * Replaces groups and content in one transaction; a changed file, variables or registries (or
   * `forceNewVersion`) store version + 1. `not_found` if there is no such stack.
   */
  update(id: number, change: EdgeStackChange, at: Date, transaction?: StoreTransaction): Promise<{ before: EdgeStackRecord; after: EdgeStackRecord }>;
  /** Deletes the stack, its versions, groups and rollouts (not its status rows); the deleted stack, or `null`. */
  delete(id: number): Promise<EdgeStackRecord | null>;
  getVersion(stackId: number, version: number): Promise<EdgeStackVersionRecord | null>;
  /** Ids of the stacks deployed to any of `groupIds`, ascending. */
  stacksForGroups(groupIds: readonly number[]): Promise<number[]>;
  /** Per group among `groupIds` that a stack uses, the names of its stacks (by name). */
  namesByGroup(groupIds: readonly number[]): Promise<Map<number, string[]>>;
  /** Ids of the stacks whose latest version pulls from any of `registryIds`, ascending. */
  stacksForRegistries(registryIds: readonly number[]): Promise<number[]>;
  /**
   * The stacks of `groupIds` (the environment's groups) at the version targeted for
   * `environmentId`, in one query: released by the stack's rollout (an `edge_stack_targets` row
   * for its current version) or no unfinished rollout → the current version; held back by an
   * unfinished rollout → its `previous_version`.
   */
  desiredFor(environmentId: number, groupIds: readonly number[]): Promise<TargetedStack[]>;
  /** The rollout of the stack's current version, if one was started; `null` otherwise. */
  rolloutOf(stackId: number): Promise<EdgeStackRolloutRecord | null>;
  /** Status rows of one stack (deleted stacks too), by environment. */
  statuses(stackId: number): Promise<EdgeStackStatusRecord[]>;
  /** Status rows of several stacks (for lists), by stack then environment. */
  statusesOf(stackIds: readonly number[]): Promise<EdgeStackStatusRecord[]>;
  status(stackId: number, environmentId: number): Promise<EdgeStackStatusRecord | null>;
  /** Writes (inserts or replaces) a status row; `not_found` if the environment is gone. */
  putStatus(row: EdgeStackStatusRecord): Promise<void>;
  deleteStatus(stackId: number, environmentId: number): Promise<boolean>;
}

/** Ids per `IN (…)` list: far below both engines' parameter limits. */
const idBatch = 1_000;

function corrupt(table: string, column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable ${table} row (column ${column}); restore a backup or remove the row.`);
}

function numberOf(value: unknown, table: string, column: string): number {
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) throw corrupt(table, column);
  return number;
}

function jsonOf(value: unknown, table: string, column: string): unknown {
  if (typeof value !== "string") throw corrupt(table, column);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw corrupt(table, column);
  }
}

function envVarsOf(value: unknown, table: string): EdgeStackEnvVar[] {
  const parsed = jsonOf(value, table, "env_vars");
  if (!Array.isArray(parsed)) throw corrupt(table, "env_vars");
  return parsed.map((item: unknown) => {
    const pair = item as { name?: unknown; value?: unknown } | null;
    if (typeof pair?.name !== "string" || typeof pair.value !== "string") throw corrupt(table, "env_vars");
    return { name: pair.name, value: pair.value };
  });
}

function idsOf(value: unknown, table: string, column: string): number[] {
  const parsed = jsonOf(value, table, column);
  if (!Array.isArray(parsed) || !parsed.every((id) => Number.isSafeInteger(id))) throw corrupt(table, column);
  return parsed as number[];
}

function transitionsOf(value: unknown): EdgeStackTransition[] {
  const parsed = jsonOf(value, "edge_stack_status", "transitions");
  if (!Array.isArray(parsed)) throw corrupt("edge_stack_status", "transitions");
  return parsed.map((item: unknown) => {
    const t = item as { Type?: unknown; Time?: unknown; Error?: unknown; RollbackTo?: unknown } | null;
    if (typeof t?.Type !== "number" || typeof t.Time !== "number") throw corrupt("edge_stack_status", "transitions");
    return { type: t.Type, time: t.Time, ...(typeof t.Error === "string" && t.Error !== "" ? { error: t.Error } : {}), ...(typeof t.RollbackTo === "number" ? { rollbackTo: t.RollbackTo } : {}) };
  });
}

/** Stored in Portainer's names, so a row reads like the API's `Status[]` entries. */
function transitionsJson(transitions: readonly EdgeStackTransition[]): string {
  return JSON.stringify(transitions.map((t) => ({ Type: t.type, Time: t.time, Error: t.error ?? "", ...(t.rollbackTo === undefined ? {} : { RollbackTo: t.rollbackTo }) })));
}

function envVarsJson(envVars: readonly EdgeStackEnvVar[]): string {
  return JSON.stringify(envVars.map(({ name, value }) => ({ name, value })));
}

function sortedUnique(ids: readonly number[], field: string): number[] {
  for (const id of ids) if (!Number.isSafeInteger(id) || id <= 0) throw new ServerError("bad_request", `${field} must hold positive integers.`, { field });
  return [...new Set(ids)].sort((a, b) => a - b);
}

function decodeStatus(row: { stack_id: unknown; environment_id: unknown; version: unknown; transitions: unknown; rolled_back_to: unknown; updated_at: unknown }): EdgeStackStatusRecord {
  return {
    stackId: numberOf(row.stack_id, "edge_stack_status", "stack_id"),
    environmentId: numberOf(row.environment_id, "edge_stack_status", "environment_id"),
    version: numberOf(row.version, "edge_stack_status", "version"),
    transitions: transitionsOf(row.transitions),
    rolledBackTo: row.rolled_back_to === null ? null : numberOf(row.rolled_back_to, "edge_stack_status", "rolled_back_to"),
    updatedAt: new Date(numberOf(row.updated_at, "edge_stack_status", "updated_at")),
  };
}

type Reader = Kysely<Database> | Transaction<Database>;

/**
 * `EdgeStackStore` on the store's database, the same queries for SQLite and PostgreSQL.
 *
 * @example
 * const stacks = new SqlEdgeStacks(database);
 * const stack = await stacks.create({ name: "web", composeFile, envVars: [], registryIds: [], groupIds: [1] }, new Date());
 */
export class SqlEdgeStacks implements EdgeStackStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async create(input: NewEdgeStack, at: Date, transaction?: Transaction<Database>): Promise<EdgeStackRecord> {
    const groupIds = sortedUnique(input.groupIds, "groupIds");
    const registryIds = sortedUnique(input.registryIds, "registryIds");
    const now = at.getTime();
    return this.#within(transaction, async (trx) => {
      let id: number;
      try {
        const row = await trx.insertInto("edge_stacks").values({ name: input.name, version: 1, deployment_type: 0, created_at: now, updated_at: now }).returning("id").executeTakeFirstOrThrow();
        id = Number(row.id);
      } catch (error) {
        if (isUniqueViolation(error)) throw nameTaken(input.name, error);
        throw error;
      }
      await trx
        .insertInto("edge_stack_versions")
        .values({ stack_id: id, version: 1, compose_file: input.composeFile, env_vars: envVarsJson(input.envVars), registry_ids: JSON.stringify(registryIds), created_at: now })
        .execute();
      await replaceLinks(trx, id, groupIds, registryIds);
      return this.#read(trx, id).then(required(id));
    });
  }

  /** Runs `work` in `transaction` (an audit entry's, `AuditLog.append`), or in a transaction of its own. */
  #within<T>(transaction: Transaction<Database> | undefined, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return transaction === undefined ? this.#database.run((db) => db.transaction().execute(work)) : work(transaction);
  }

  get(id: number): Promise<EdgeStackRecord | null> {
    return this.#database.run((db) => this.#read(db, id));
  }

  async list(): Promise<EdgeStackRecord[]> {
    return this.#database.run(async (db) => {
      const stacks = await db
        .selectFrom("edge_stacks as s")
        .innerJoin("edge_stack_versions as v", (join) => join.onRef("v.stack_id", "=", "s.id").onRef("v.version", "=", "s.version"))
        .select(["s.id", "s.name", "s.version", "s.created_at", "s.updated_at", "v.compose_file", "v.env_vars", "v.registry_ids"])
        .orderBy("s.id")
        .execute();
      const groups = await db.selectFrom("edge_stack_groups").select(["stack_id", "group_id"]).orderBy("stack_id").orderBy("group_id").execute();
      const byStack = new Map<number, number[]>();
      for (const link of groups) {
        const stackId = Number(link.stack_id);
        byStack.set(stackId, [...(byStack.get(stackId) ?? []), Number(link.group_id)]);
      }
      return stacks.map((row) => decodeStack(row, byStack.get(Number(row.id)) ?? []));
    });
  }

  async update(id: number, change: EdgeStackChange, at: Date, transaction?: Transaction<Database>): Promise<{ before: EdgeStackRecord; after: EdgeStackRecord }> {
    const groupIds = sortedUnique(change.groupIds, "groupIds");
    const registryIds = sortedUnique(change.registryIds, "registryIds");
    const now = at.getTime();
    return this.#within(transaction, async (trx) => {
      // The version bump first: on PostgreSQL it locks the row, so two replicas updating the
      // same stack at once write versions N+1 and N+2, never two N+1.
      const locked = await trx.updateTable("edge_stacks").set({ updated_at: now }).where("id", "=", id).returning("id").executeTakeFirst();
      if (locked === undefined) throw new ServerError("not_found", `Edge stack ${id} does not exist.`, { fix: "List the stacks with GET /api/edge_stacks." });
      const before = await this.#read(trx, id).then(required(id));
      const changed =
        change.forceNewVersion || before.composeFile !== change.composeFile || envVarsJson(before.envVars) !== envVarsJson(change.envVars) || JSON.stringify(before.registryIds) !== JSON.stringify(registryIds);
      if (changed) {
        const bumped = await trx
          .updateTable("edge_stacks")
          .set((eb) => ({ version: eb("version", "+", 1) }))
          .where("id", "=", id)
          .returning("version")
          .executeTakeFirstOrThrow();
        await trx
          .insertInto("edge_stack_versions")
          .values({ stack_id: id, version: Number(bumped.version), compose_file: change.composeFile, env_vars: envVarsJson(change.envVars), registry_ids: JSON.stringify(registryIds), created_at: now })
          .execute();
        if (change.rollout !== undefined) {
          // In the version's own transaction: no desired state ever gives the new version to an unreleased device.
          const { batchSize, batchPercent, waitSeconds, failureThreshold } = change.rollout;
          await trx
            .insertInto("edge_stack_rollouts")
            .values({ stack_id: id, version: Number(bumped.version), previous_version: before.version, batch_size: batchSize, batch_percent: batchPercent, wait_seconds: waitSeconds, failure_threshold: failureThreshold, state: "running", started_at: now, released_at: null, reason: null, updated_at: now })
            .execute();
        }
      }
      await replaceLinks(trx, id, groupIds, registryIds);
      return { before, after: await this.#read(trx, id).then(required(id)) };
    });
  }

  async delete(id: number): Promise<EdgeStackRecord | null> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const stack = await this.#read(trx, id);
        if (stack === null) return null;
        await trx.deleteFrom("edge_stacks").where("id", "=", id).execute();
        return stack;
      }),
    );
  }

  getVersion(stackId: number, version: number): Promise<EdgeStackVersionRecord | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("edge_stack_versions").selectAll().where("stack_id", "=", stackId).where("version", "=", version).executeTakeFirst();
      if (row === undefined) return null;
      return {
        stackId,
        version,
        composeFile: row.compose_file,
        envVars: envVarsOf(row.env_vars, "edge_stack_versions"),
        registryIds: idsOf(row.registry_ids, "edge_stack_versions", "registry_ids"),
        createdAt: new Date(numberOf(row.created_at, "edge_stack_versions", "created_at")),
      };
    });
  }

  async stacksForGroups(groupIds: readonly number[]): Promise<number[]> {
    return this.#linked("edge_stack_groups", "group_id", sortedUnique(groupIds, "groupIds"));
  }

  async namesByGroup(groupIds: readonly number[]): Promise<Map<number, string[]>> {
    const ids = sortedUnique(groupIds, "groupIds");
    const names = new Map<number, string[]>();
    for (let start = 0; start < ids.length; start += idBatch) {
      const batch = ids.slice(start, start + idBatch);
      const rows = await this.#database.run((db) =>
        db.selectFrom("edge_stack_groups as g").innerJoin("edge_stacks as s", "s.id", "g.stack_id").select(["g.group_id", "s.name"]).where("g.group_id", "in", batch).orderBy("g.group_id").orderBy("s.name").execute(),
      );
      for (const row of rows) {
        const groupId = Number(row.group_id);
        names.set(groupId, [...(names.get(groupId) ?? []), row.name]);
      }
    }
    return names;
  }

  async stacksForRegistries(registryIds: readonly number[]): Promise<number[]> {
    return this.#linked("edge_stack_registries", "registry_id", sortedUnique(registryIds, "registryIds"));
  }

  async desiredFor(environmentId: number, groupIds: readonly number[]): Promise<TargetedStack[]> {
    const groups = sortedUnique(groupIds, "groupIds");
    if (groups.length === 0) return [];
    const found = new Map<number, TargetedStack>();
    for (let start = 0; start < groups.length; start += idBatch) {
      const batch = groups.slice(start, start + idBatch);
      const { rows } = await this.#database.run((db) =>
        sql<{ id: unknown; name: unknown; version: unknown; compose_file: unknown; env_vars: unknown; registry_ids: unknown }>`
          SELECT s.id, s.name, v.version, v.compose_file, v.env_vars, v.registry_ids
          FROM edge_stacks s
          LEFT JOIN edge_stack_targets t ON t.stack_id = s.id AND t.environment_id = ${environmentId} AND t.version = s.version
          LEFT JOIN edge_stack_rollouts r ON r.stack_id = s.id AND r.version = s.version AND r.state <> 'completed'
          JOIN edge_stack_versions v ON v.stack_id = s.id
            AND v.version = CASE WHEN t.stack_id IS NULL AND r.stack_id IS NOT NULL THEN r.previous_version ELSE s.version END
          WHERE s.id IN (SELECT stack_id FROM edge_stack_groups WHERE group_id IN (${sql.join(batch)}))
          ORDER BY s.id`.execute(db),
      );
      for (const row of rows) {
        const id = numberOf(row.id, "edge_stacks", "id");
        if (typeof row.name !== "string" || typeof row.compose_file !== "string") throw corrupt("edge_stack_versions", "compose_file");
        found.set(id, {
          id,
          name: row.name,
          version: numberOf(row.version, "edge_stack_versions", "version"),
          deploymentType: 0,
          composeFile: row.compose_file,
          envVars: envVarsOf(row.env_vars, "edge_stack_versions"),
          registryIds: idsOf(row.registry_ids, "edge_stack_versions", "registry_ids"),
        });
      }
    }
    return [...found.values()].sort((a, b) => a.id - b.id);
  }

  rolloutOf(stackId: number): Promise<EdgeStackRolloutRecord | null> {
    return this.#database.run(async (db) => {
      const row = await db
        .selectFrom("edge_stack_rollouts as r")
        .innerJoin("edge_stacks as s", (join) => join.onRef("s.id", "=", "r.stack_id").onRef("s.version", "=", "r.version"))
        .selectAll("r")
        .select((eb) => eb.selectFrom("edge_stack_targets as t").select((count) => count.fn.countAll<number>().as("n")).whereRef("t.stack_id", "=", "r.stack_id").whereRef("t.version", "=", "r.version").as("released"))
        .where("r.stack_id", "=", stackId)
        .executeTakeFirst();
      if (row === undefined) return null;
      const table = "edge_stack_rollouts";
      return {
        stackId,
        version: numberOf(row.version, table, "version"),
        previousVersion: numberOf(row.previous_version, table, "previous_version"),
        state: row.state,
        batchSize: row.batch_size === null ? null : numberOf(row.batch_size, table, "batch_size"),
        batchPercent: row.batch_percent === null ? null : numberOf(row.batch_percent, table, "batch_percent"),
        waitSeconds: numberOf(row.wait_seconds, table, "wait_seconds"),
        failureThreshold: numberOf(row.failure_threshold, table, "failure_threshold"),
        startedAt: new Date(numberOf(row.started_at, table, "started_at")),
        releasedAt: row.released_at === null ? null : new Date(numberOf(row.released_at, table, "released_at")),
        released: numberOf(row.released ?? 0, table, "released"),
      };
    });
  }

  statuses(stackId: number): Promise<EdgeStackStatusRecord[]> {
    return this.statusesOf([stackId]);
  }

  async statusesOf(stackIds: readonly number[]): Promise<EdgeStackStatusRecord[]> {
    const ids = sortedUnique(stackIds, "stackIds");
    const found: EdgeStackStatusRecord[] = [];
    for (let start = 0; start < ids.length; start += idBatch) {
      const batch = ids.slice(start, start + idBatch);
      const rows = await this.#database.run((db) => db.selectFrom("edge_stack_status").selectAll().where("stack_id", "in", batch).orderBy("stack_id").orderBy("environment_id").execute());
      found.push(...rows.map(decodeStatus));
    }
    return found;
  }

  status(stackId: number, environmentId: number): Promise<EdgeStackStatusRecord | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("edge_stack_status").selectAll().where("stack_id", "=", stackId).where("environment_id", "=", environmentId).executeTakeFirst();
      return row === undefined ? null : decodeStatus(row);
    });
  }

  async putStatus(row: EdgeStackStatusRecord): Promise<void> {
    const values = {
      stack_id: row.stackId,
      environment_id: row.environmentId,
      version: row.version,
      transitions: transitionsJson(row.transitions),
      rolled_back_to: row.rolledBackTo,
      updated_at: row.updatedAt.getTime(),
    };
    return this.#database.run(async (db) => {
      try {
        await db
          .insertInto("edge_stack_status")
          .values(values)
          .onConflict((conflict) =>
            conflict.columns(["stack_id", "environment_id"]).doUpdateSet({ version: values.version, transitions: values.transitions, rolled_back_to: values.rolled_back_to, updated_at: values.updated_at }),
          )
          .execute();
      } catch (error) {
        if (isForeignKeyViolation(error)) {
          throw new ServerError("not_found", `Environment ${row.environmentId} does not exist (removed meanwhile); its stack status is not kept.`, { cause: error });
        }
        throw error;
      }
    });
  }

  deleteStatus(stackId: number, environmentId: number): Promise<boolean> {
    return this.#database.run(async (db) => {
      const result = await db.deleteFrom("edge_stack_status").where("stack_id", "=", stackId).where("environment_id", "=", environmentId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async #linked(table: "edge_stack_groups" | "edge_stack_registries", column: "group_id" | "registry_id", ids: number[]): Promise<number[]> {
    const stacks = new Set<number>();
    for (let start = 0; start < ids.length; start += idBatch) {
      const batch = ids.slice(start, start + idBatch);
      const { rows } = await this.#database.run((db) => sql<{ stack_id: unknown }>`SELECT DISTINCT stack_id FROM ${sql.table(table)} WHERE ${sql.ref(column)} IN (${sql.join(batch)})`.execute(db));
      for (const row of rows) stacks.add(numberOf(row.stack_id, table, "stack_id"));
    }
    return [...stacks].sort((a, b) => a - b);
  }

  async #read(db: Reader, id: number): Promise<EdgeStackRecord | null> {
    const row = await db
      .selectFrom("edge_stacks as s")
      .innerJoin("edge_stack_versions as v", (join) => join.onRef("v.stack_id", "=", "s.id").onRef("v.version", "=", "s.version"))
      .select(["s.id", "s.name", "s.version", "s.created_at", "s.updated_at", "v.compose_file", "v.env_vars", "v.registry_ids"])
      .where("s.id", "=", id)
      .executeTakeFirst();
    if (row === undefined) return null;
    const groups = await db.selectFrom("edge_stack_groups").select("group_id").where("stack_id", "=", id).orderBy("group_id").execute();
    return decodeStack(
      row,
      groups.map((link) => Number(link.group_id)),
    );
  }
}

function decodeStack(
  row: { id: unknown; name: string; version: unknown; created_at: unknown; updated_at: unknown; compose_file: string; env_vars: string; registry_ids: string },
  groupIds: number[],
): EdgeStackRecord {
  return {
    id: numberOf(row.id, "edge_stacks", "id"),
    name: row.name,
    version: numberOf(row.version, "edge_stacks", "version"),
    deploymentType: 0,
    createdAt: new Date(numberOf(row.created_at, "edge_stacks", "created_at")),
    updatedAt: new Date(numberOf(row.updated_at, "edge_stacks", "updated_at")),
    groupIds,
    composeFile: row.compose_file,
    envVars: envVarsOf(row.env_vars, "edge_stack_versions"),
    registryIds: idsOf(row.registry_ids, "edge_stack_versions", "registry_ids"),
  };
}

async function replaceLinks(trx: Transaction<Database>, stackId: number, groupIds: readonly number[], registryIds: readonly number[]): Promise<void> {
  await trx.deleteFrom("edge_stack_groups").where("stack_id", "=", stackId).execute();
  if (groupIds.length > 0) await trx.insertInto("edge_stack_groups").values(groupIds.map((groupId) => ({ stack_id: stackId, group_id: groupId }))).execute();
  await trx.deleteFrom("edge_stack_registries").where("stack_id", "=", stackId).execute();
  if (registryIds.length > 0) await trx.insertInto("edge_stack_registries").values(registryIds.map((registryId) => ({ stack_id: stackId, registry_id: registryId }))).execute();
}

function nameTaken(name: string, cause: unknown): ServerError {
  return new ServerError("conflict", `An edge stack named "${name}" already exists.`, { field: "name", fix: "Choose another name, or update that stack (PUT /api/edge_stacks/{id}).", cause });
}

function required(id: number): (stack: EdgeStackRecord | null) => EdgeStackRecord {
  return (stack) => {
    if (stack === null) throw new ServerError("internal", `Edge stack ${id} vanished inside its own transaction.`);
    return stack;
  };
}
