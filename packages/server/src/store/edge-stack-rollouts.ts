import type { SqlDatabase } from "./database.ts";
import type { EdgeStackRolloutsTable } from "./schema-fleet.ts";
import { ServerError } from "../errors.ts";

/** The options of a staged rollout (docs/fleet.md "Rollouts"): exactly one of `batchSize`, `batchPercent`. */
export interface RolloutOptions {
  batchSize: number | null;
  batchPercent: number | null;
  /** Seconds to wait after a batch settled before releasing the next. */
  waitSeconds: number;
  /** Failed environments tolerated: the rollout pauses when more than this many released ones failed. */
  failureThreshold: number;
}

export type RolloutState = EdgeStackRolloutsTable["state"];

/** One row of `edge_stack_rollouts`, as the rollout engine reads it. */
export interface RolloutRow extends RolloutOptions {
  stackId: number;
  version: number;
  previousVersion: number;
  state: RolloutState;
  reason: string | null;
  startedAt: Date;
  /** When the last batch was released (`null` before the first). */
  releasedAt: Date | null;
  /** Milliseconds; every write changes it (the compare-and-set token between replicas). */
  updatedAt: number;
}

/** The rollout engine's queries on `edge_stack_rollouts` and `edge_stack_targets` (fleet/edge-stacks/rollout-engine.ts). */
export interface EdgeStackRolloutStore {
  /** The rollout of the stack's current version, if any. */
  current(stackId: number): Promise<RolloutRow | null>;
  /** Rollouts in state `running` of their stack's current version (what a tick advances). */
  running(): Promise<RolloutRow[]>;
  /** Environments released to `version` (`edge_stack_targets`), ascending. */
  released(stackId: number, version: number): Promise<number[]>;
  /**
   * Releases `environmentIds` to the rollout's version if the row is still as `seen` (state
   * running, same `updatedAt`): one transaction, so of two replicas only one releases a batch.
   * `false` when another writer got there first.
   */
  release(seen: RolloutRow, environmentIds: readonly number[], at: Date): Promise<boolean>;
  /**
   * Moves the rollout of the stack's current version from one of `from` to `to` with `reason`;
   * `unrelease` also deletes its targets (abort: every environment back on the previous version).
   * `failureThreshold` replaces the threshold (resume: the failures so far are accepted).
   * Returns the row before, or `null` when no rollout was in one of `from`.
   */
  transition(stackId: number, from: readonly RolloutState[], to: RolloutState, reason: string | null, at: Date, options?: { unrelease?: boolean; seen?: number; failureThreshold?: number }): Promise<RolloutRow | null>;
}

function decode(row: Record<string, unknown>): RolloutRow {
  const n = (column: string): number => {
    const value = row[column];
    const number = typeof value === "string" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isSafeInteger(number)) {
      throw new ServerError("store_failed", `The database holds an unreadable edge_stack_rollouts row (column ${column}); restore a backup or remove the row.`);
    }
    return number;
  };
  const nullable = (column: string): number | null => (row[column] === null ? null : n(column));
  const releasedAt = nullable("released_at");
  return {
    stackId: n("stack_id"),
    version: n("version"),
    previousVersion: n("previous_version"),
    state: row.state as RolloutState,
    reason: typeof row.reason === "string" ? row.reason : null,
    batchSize: nullable("batch_size"),
    batchPercent: nullable("batch_percent"),
    waitSeconds: n("wait_seconds"),
    failureThreshold: n("failure_threshold"),
    startedAt: new Date(n("started_at")),
    releasedAt: releasedAt === null ? null : new Date(releasedAt),
    updatedAt: n("updated_at"),
  };
}

/**
 * `EdgeStackRolloutStore` on the store's database (SQLite and PostgreSQL alike). Rollout rows are
 * created by `SqlEdgeStacks.update` in the transaction that makes the version.
 *
 * @example
 * const rollouts = new SqlEdgeStackRollouts(database);
 * for (const row of await rollouts.running()) await rollouts.release(row, [7, 8], new Date());
 */
export class SqlEdgeStackRollouts implements EdgeStackRolloutStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  current(stackId: number): Promise<RolloutRow | null> {
    return this.#database.run(async (db) => {
      const row = await db
        .selectFrom("edge_stack_rollouts as r")
        .innerJoin("edge_stacks as s", (join) => join.onRef("s.id", "=", "r.stack_id").onRef("s.version", "=", "r.version"))
        .selectAll("r")
        .where("r.stack_id", "=", stackId)
        .executeTakeFirst();
      return row === undefined ? null : decode(row);
    });
  }

  running(): Promise<RolloutRow[]> {
    return this.#database.run(async (db) => {
      const rows = await db
        .selectFrom("edge_stack_rollouts as r")
        .innerJoin("edge_stacks as s", (join) => join.onRef("s.id", "=", "r.stack_id").onRef("s.version", "=", "r.version"))
        .selectAll("r")
        .where("r.state", "=", "running")
        .orderBy("r.stack_id")
        .execute();
      return rows.map((row) => decode(row as unknown as Record<string, unknown>));
    });
  }

  released(stackId: number, version: number): Promise<number[]> {
    return this.#database.run(async (db) => {
      const rows = await db.selectFrom("edge_stack_targets").select("environment_id").where("stack_id", "=", stackId).where("version", "=", version).orderBy("environment_id").execute();
      return rows.map((row) => Number(row.environment_id));
    });
  }

  release(seen: RolloutRow, environmentIds: readonly number[], at: Date): Promise<boolean> {
    const now = Math.max(at.getTime(), seen.updatedAt + 1);
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        // Compare-and-set: on PostgreSQL the UPDATE locks the row, and a second replica's UPDATE
        // re-reads it after the first commits and matches nothing.
        const claimed = await trx
          .updateTable("edge_stack_rollouts")
          .set({ released_at: at.getTime(), updated_at: now })
          .where("stack_id", "=", seen.stackId)
          .where("version", "=", seen.version)
          .where("state", "=", "running")
          .where("updated_at", "=", seen.updatedAt)
          .returning("stack_id")
          .executeTakeFirst();
        if (claimed === undefined) return false;
        for (let start = 0; start < environmentIds.length; start += 500) {
          const values = environmentIds.slice(start, start + 500).map((environmentId) => ({ stack_id: seen.stackId, environment_id: environmentId, version: seen.version, released_at: at.getTime() }));
          // An environment removed meanwhile has no row to reference: skipped by the caller's next
          // tick (it is no longer a member); the upsert replaces a target of an older version.
          await trx
            .insertInto("edge_stack_targets")
            .values(values)
            .onConflict((conflict) => conflict.columns(["stack_id", "environment_id"]).doUpdateSet((eb) => ({ version: eb.ref("excluded.version"), released_at: eb.ref("excluded.released_at") })))
            .execute();
        }
        return true;
      }),
    );
  }

  transition(stackId: number, from: readonly RolloutState[], to: RolloutState, reason: string | null, at: Date, options: { unrelease?: boolean; seen?: number; failureThreshold?: number } = {}): Promise<RolloutRow | null> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom("edge_stack_rollouts as r")
          .innerJoin("edge_stacks as s", (join) => join.onRef("s.id", "=", "r.stack_id").onRef("s.version", "=", "r.version"))
          .selectAll("r")
          .where("r.stack_id", "=", stackId)
          .executeTakeFirst();
        if (before === undefined) return null;
        const row = decode(before);
        const now = Math.max(at.getTime(), row.updatedAt + 1);
        let update = trx
          .updateTable("edge_stack_rollouts")
          .set({ state: to, reason, updated_at: now, ...(options.failureThreshold === undefined ? {} : { failure_threshold: options.failureThreshold }) })
          .where("stack_id", "=", stackId)
          .where("version", "=", row.version)
          .where("state", "in", [...from]);
        update = update.where("updated_at", "=", options.seen ?? row.updatedAt);
        const changed = await update.returning("stack_id").executeTakeFirst();
        if (changed === undefined) return null;
        if (options.unrelease === true) await trx.deleteFrom("edge_stack_targets").where("stack_id", "=", stackId).where("version", "=", row.version).execute();
        return row;
      }),
    );
  }
}
