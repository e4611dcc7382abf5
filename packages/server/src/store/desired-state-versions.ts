import type { SqlDatabase } from "./database.ts";

/** One environment's computed desired state, as stored (migration 16). */
export interface StoredDesiredState {
  environmentId: number;
  /** Hex SHA-256 of the document; `null` keeps the stored one (the new document could not be delivered). */
  version: string | null;
  /** Why the new document could not be delivered; `null` when it was. */
  error: string | null;
}

/**
 * The desired-state version of each environment (docs/fleet.md "Desired state"): two columns
 * of `environments`, read with the row at every hello, written here only when they change.
 */
export interface DesiredStateVersionStore {
  /**
   * Writes those of `states` that differ from what is stored (environments gone are skipped),
   * 1,000 environments per read; returns the ids whose version changed.
   */
  record(states: readonly StoredDesiredState[]): Promise<number[]>;
  /** The associated environments, in id order (what `FleetChanges.changed("all")` recomputes). */
  associated(): Promise<number[]>;
}

/** Environments per statement: far below SQLite's and PostgreSQL's parameter limits. */
const perStatement = 1_000;

/**
 * `DesiredStateVersionStore` on kysely, the same queries on SQLite and PostgreSQL: one read per
 * 1,000 environments, one write per environment whose values changed.
 *
 * @example
 * const versions = new SqlDesiredStateVersions(database);
 * const changed = await versions.record([{ environmentId: 7, version: "ab…", error: null }]);
 */
export class SqlDesiredStateVersions implements DesiredStateVersionStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  record(states: readonly StoredDesiredState[]): Promise<number[]> {
    return this.#database.run(async (db) => {
      const changed: number[] = [];
      for (let start = 0; start < states.length; start += perStatement) {
        const slice = states.slice(start, start + perStatement);
        const rows = await db
          .selectFrom("environments")
          .select(["id", "desired_state_version", "desired_state_error"])
          .where("id", "in", slice.map((state) => state.environmentId))
          .execute();
        const stored = new Map(rows.map((row) => [Number(row.id), row]));
        for (const state of slice) {
          const row = stored.get(state.environmentId);
          if (!row) continue;
          const version = state.version ?? row.desired_state_version;
          if (version === row.desired_state_version && state.error === row.desired_state_error) continue;
          // Last writer wins: each writer computed after its own change was stored.
          const result = await db.updateTable("environments").set({ desired_state_version: version, desired_state_error: state.error }).where("id", "=", state.environmentId).executeTakeFirst();
          if (result.numUpdatedRows > 0n && version !== row.desired_state_version) changed.push(state.environmentId);
        }
      }
      return changed;
    });
  }

  associated(): Promise<number[]> {
    return this.#database.run(async (db) => {
      const rows = await db.selectFrom("environments").select("id").where("user_trusted", "=", 1).orderBy("id").execute();
      return rows.map((row) => Number(row.id));
    });
  }
}
