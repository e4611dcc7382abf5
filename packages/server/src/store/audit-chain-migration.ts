import type { DatabaseSync } from "node:sqlite";
import { type Kysely, sql } from "kysely";
import { type AuditChainFields, actorFromDetail, auditEntryHash, auditGenesisHash } from "./audit-chain.ts";
import type { DialectMigration } from "./migrations.ts";
import type { Database } from "./schema.ts";

/** Rows chained per read (and per UPDATE on PostgreSQL). */
const batchRows = 500;

interface StoredRow {
  id: number;
  at: number;
  kind: string;
  environment_id: number | null;
  edge_id: string | null;
  source_address: string | null;
  detail: string;
}

function fieldsOf(row: StoredRow): AuditChainFields {
  let detail: unknown;
  try {
    detail = JSON.parse(row.detail);
  } catch {
    detail = undefined;
  }
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) throw new Error(`audit entry ${row.id} has a detail that is not a JSON object`);
  const record = detail as Record<string, unknown>;
  return { id: Number(row.id), at: Number(row.at), kind: row.kind, environmentId: row.environment_id === null ? null : Number(row.environment_id), edgeId: row.edge_id, sourceAddress: row.source_address, actor: actorFromDetail(record), detail: record };
}

/** Each row's actor, prevHash and hash, in chain order, continuing from `prevHash`. */
function chain(rows: readonly StoredRow[], prevHash: string): { id: number; actor: string | null; prevHash: string; hash: string }[] {
  let previous = prevHash;
  return rows.map((row) => {
    const fields = fieldsOf(row);
    const hash = auditEntryHash(previous, fields);
    const link = { id: fields.id, actor: fields.actor, prevHash: previous, hash };
    previous = hash;
    return link;
  });
}

const selectRows = "SELECT id, at, kind, environment_id, edge_id, source_address, detail FROM audit_events WHERE id > ? ORDER BY id LIMIT ?";

function chainSqliteRows(db: DatabaseSync): void {
  const read = db.prepare(selectRows);
  const write = db.prepare("UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?");
  let prevHash = auditGenesisHash;
  let after = 0;
  for (;;) {
    const rows = read.all(after, batchRows) as unknown as StoredRow[];
    if (rows.length === 0) return;
    for (const link of chain(rows, prevHash)) {
      write.run(link.actor, link.prevHash, link.hash, link.id);
      prevHash = link.hash;
      after = link.id;
    }
  }
}

async function chainPostgresRows(db: Kysely<Database>): Promise<void> {
  let prevHash = auditGenesisHash;
  let after = 0;
  for (;;) {
    const rows = await db.selectFrom("audit_events").select(["id", "at", "kind", "environment_id", "edge_id", "source_address", "detail"]).where("id", ">", after).orderBy("id").limit(batchRows).execute();
    if (rows.length === 0) return;
    const links = chain(rows, prevHash);
    const values = sql.join(links.map((link) => sql`(${link.id}::bigint, ${link.actor}::text, ${link.prevHash}::text, ${link.hash}::text)`));
    await sql`UPDATE audit_events AS a SET actor = v.actor, prev_hash = v.prev_hash, hash = v.hash FROM (VALUES ${values}) AS v (id, actor, prev_hash, hash) WHERE a.id = v.id`.execute(db);
    const last = links.at(-1);
    if (last === undefined) return;
    prevHash = last.hash;
    after = last.id;
  }
}

/**
 * 17: the activity log's hash chain (docs/security.md "Activity log: hash chain"). Each entry gets
 * the user who acted (`actor`; for older entries the `by`/`user` their detail names), the hash of
 * the entry before it and its own; the rows already there are chained here, in id order. Indexes
 * serve the Activity screen's filters, newest first.
 */
// The same statements on both engines; only the chaining of existing rows differs.
const auditChainColumns = `
    ALTER TABLE audit_events ADD COLUMN actor TEXT;
    ALTER TABLE audit_events ADD COLUMN prev_hash TEXT CHECK (prev_hash IS NULL OR length(prev_hash) = 64);
    ALTER TABLE audit_events ADD COLUMN hash TEXT CHECK (hash IS NULL OR length(hash) = 64);
    CREATE INDEX audit_events_by_kind ON audit_events (kind, at, id);
    CREATE INDEX audit_events_by_actor ON audit_events (actor, at, id);
    CREATE INDEX audit_events_by_edge ON audit_events (edge_id, at, id);
  `;

export const auditChain: DialectMigration = {
  version: 17,
  name: "audit hash chain",
  sqlite: auditChainColumns,
  postgres: auditChainColumns,
  sqliteData: chainSqliteRows,
  postgresData: chainPostgresRows,
};
