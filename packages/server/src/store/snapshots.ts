import { type DockerSnapshot, dockerSnapshotSchema } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, integer, json, millis } from "./row-readers.ts";
import { corrupt, isForeignKeyViolation } from "./store-errors.ts";
import type { DockerSummary, SnapshotStore, StoredSnapshot } from "./store.ts";

/** Checks a snapshot against the protocol's schema, naming the first invalid field. */
function checkSnapshot(value: unknown, fail: (field: string, rule: string) => ServerError): DockerSnapshot {
  const result = dockerSnapshotSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw fail(issue?.path.join(".") || "(root)", issue?.message ?? "invalid");
}

function decodeSnapshot(row: Row): StoredSnapshot {
  const snapshot = checkSnapshot(json(row, "json"), (field) => corrupt(`snapshot field ${field}`));
  return { at: new Date(integer(row, "collected_at")), snapshot };
}

/**
 * `SnapshotStore` on kysely: each environment's latest Docker snapshot, replaced whole.
 *
 * @example
 * await new SqlSnapshots(database).put(7, snapshot, new Date(), summarizeDockerSnapshot(snapshot));
 */
export class SqlSnapshots implements SnapshotStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  put(environmentId: number, snapshot: DockerSnapshot, at: Date, summary: DockerSummary): Promise<void> {
    return this.#database.run(async (db) => {
      const checked = checkSnapshot(snapshot, (field, rule) => new ServerError("bad_request", `Snapshot ${field}: ${rule}.`, { field }));
      const values = { environment_id: environmentId, collected_at: millis(at, "at"), json: JSON.stringify(checked), summary: JSON.stringify(summary) };
      try {
        await db
          .insertInto("snapshots")
          .values(values)
          .onConflict((conflict) => conflict.column("environment_id").doUpdateSet({ collected_at: values.collected_at, json: values.json, summary: values.summary }))
          .execute();
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`, { cause: error, details: { id: environmentId } });
        throw error;
      }
    });
  }

  get(environmentId: number): Promise<StoredSnapshot | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("snapshots").selectAll().where("environment_id", "=", environmentId).executeTakeFirst();
      return row === undefined ? null : decodeSnapshot(row);
    });
  }
}
