import { type Kysely, sql } from "kysely";
import { type SqlDatabase, sqliteConnectionOf } from "./database.ts";
import type { Database } from "./schema.ts";

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
 * `DesiredStateVersionStore` on kysely: one read per 1,000 environments, then one write of those
 * whose values changed (PostgreSQL: one `UPDATE … FROM unnest(…)`; SQLite: prepared runs in one transaction).
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
        const writes: { id: number; version: string | null; error: string | null; moved: boolean }[] = [];
        for (const state of slice) {
          const row = stored.get(state.environmentId);
          if (!row) continue;
          const version = state.version ?? row.desired_state_version;
          if (version === row.desired_state_version && state.error === row.desired_state_error) continue;
          writes.push({ id: state.environmentId, version, error: state.error, moved: version !== row.desired_state_version });
        }
        if (writes.length === 0) continue;
        // Last writer wins: each writer computed after its own change was stored. One statement
        // (PostgreSQL) or one transaction of prepared runs (SQLite) per slice, not one per environment.
        const written = await this.#write(db, writes);
        for (const write of writes) if (write.moved && written.has(write.id)) changed.push(write.id);
      }
      return changed;
    });
  }

  /** Writes the slice's rows; returns the ids that still existed. */
  async #write(db: Kysely<Database>, writes: readonly { id: number; version: string | null; error: string | null }[]): Promise<Set<number>> {
    const sqlite = sqliteConnectionOf(this.#database);
    if (sqlite !== undefined) {
      const written = new Set<number>();
      // Synchronously while holding kysely's only connection, as `recordCheckIns` does.
      await db.connection().execute(() => {
        const update = sqlite.prepare("UPDATE environments SET desired_state_version = ?, desired_state_error = ? WHERE id = ?");
        const connection = sqlite.connection;
        connection.exec("BEGIN IMMEDIATE");
        try {
          for (const write of writes) if (Number(update.run([write.version, write.error, write.id]).changes) > 0) written.add(write.id);
          connection.exec("COMMIT");
        } catch (error) {
          if (connection.isTransaction) connection.exec("ROLLBACK");
          throw error;
        }
        return Promise.resolve();
      });
      return written;
    }
    const { rows } = await sql<{ id: unknown }>`UPDATE environments AS e SET desired_state_version = v.version, desired_state_error = v.error
      FROM unnest(${writes.map((write) => write.id)}::bigint[], ${writes.map((write) => write.version)}::text[], ${writes.map((write) => write.error)}::text[]) AS v(id, version, error)
      WHERE e.id = v.id RETURNING e.id`.execute(db);
    return new Set(rows.map((row) => Number(row.id)));
  }

  associated(): Promise<number[]> {
    return this.#database.run(async (db) => {
      const rows = await db.selectFrom("environments").select("id").where("user_trusted", "=", 1).orderBy("id").execute();
      return rows.map((row) => Number(row.id));
    });
  }
}
