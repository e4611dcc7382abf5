import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, integer, integerOrNull, isRecord, json, millis, text, textOrNull } from "./row-readers.ts";
import { corrupt } from "./store-errors.ts";
import type { AuditEvent, AuditLog, NewAuditEvent } from "./store.ts";

function decodeAuditEvent(row: Row): AuditEvent {
  const detail = json(row, "detail");
  if (!isRecord(detail)) throw corrupt("audit detail");
  return {
    id: integer(row, "id"),
    at: new Date(integer(row, "at")),
    environmentId: integerOrNull(row, "environment_id"),
    edgeId: textOrNull(row, "edge_id"),
    kind: text(row, "kind"),
    sourceAddress: textOrNull(row, "source_address"),
    detail,
  };
}

/** At most this many events per `list`. */
const maxAuditPage = 1000;

/**
 * `AuditLog` on kysely: append-only, newest first.
 *
 * @example
 * await new SqlAuditLog(database).append({ kind: "associated", environmentId: 7 });
 */
export class SqlAuditLog implements AuditLog {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  append(event: NewAuditEvent): Promise<AuditEvent> {
    return this.#database.run(async (db) => {
      const detail = event.detail ?? {};
      if (!isRecord(detail)) throw new ServerError("bad_request", "Audit detail must be an object.", { field: "detail" });
      const row = await db
        .insertInto("audit_events")
        .values({
          at: millis(event.at ?? new Date(), "at"),
          environment_id: event.environmentId ?? null,
          edge_id: event.edgeId ?? null,
          kind: event.kind,
          source_address: event.sourceAddress ?? null,
          detail: JSON.stringify(detail),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return decodeAuditEvent(row);
    });
  }

  list(filter?: { environmentId?: number; limit?: number }): Promise<AuditEvent[]> {
    return this.#database.run(async (db) => {
      const limit = filter?.limit ?? 100;
      if (!Number.isSafeInteger(limit) || limit < 1) throw new ServerError("bad_request", "The audit limit must be a positive whole number.", { field: "limit" });
      const environmentId = filter?.environmentId;
      const rows = await db
        .selectFrom("audit_events")
        .selectAll()
        .$if(environmentId !== undefined, (query) => query.where("environment_id", "=", environmentId ?? 0))
        .orderBy("at", "desc")
        .orderBy("id", "desc")
        .limit(Math.min(limit, maxAuditPage))
        .execute();
      return rows.map(decodeAuditEvent);
    });
  }
}
