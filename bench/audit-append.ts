/**
 * Benchmark: the cost of the audit trail's hash chain on `audit.append` (hot during a connect
 * storm: every refused handshake appends). Compares the chained append with the plain INSERT the
 * store did before (the same row without actor/prev_hash/hash), one at a time and with 50 appends
 * in flight, on SQLite and on PostgreSQL.
 *
 *   npx node bench/audit-append.ts [--appends 2000]
 *   PIER_BENCH_DATABASE_URL=postgres://… npx node bench/audit-append.ts   (an empty database;
 *   without it, a throwaway PostgreSQL 15 is started as the tests do, fsync off)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startPostgres } from "../packages/e2e/src/postgres.ts";
import { type StoreTarget, openDatabase } from "../packages/server/src/store/database.ts";
import { openStore } from "../packages/server/src/store/open-store.ts";

const { values } = parseArgs({ options: { appends: { type: "string", default: "2000" } } });
const appends = Number(values.appends);
const inFlight = 50;
const event = { kind: "refused_tls", sourceAddress: "198.51.100.7", detail: { code: "unknown_ca", serial: "1a2b3c", subject: "CN=edge-client" } };

async function timed(work: (index: number) => Promise<unknown>, parallel: number): Promise<{ perCallUs: number; perSecond: number }> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < appends) await work(next++);
    }),
  );
  const ms = performance.now() - start;
  return { perCallUs: Math.round((ms * 1000) / appends), perSecond: Math.round((appends * 1000) / ms) };
}

async function run(label: string, target: StoreTarget): Promise<void> {
  await using store = await openStore(target);
  const database = await openDatabase(target);
  // The append before the chain: one INSERT … RETURNING (store/audit.ts before migration 17).
  const plain = () =>
    database.db
      .insertInto("audit_events")
      .values({ at: Date.now(), environment_id: null, edge_id: null, kind: event.kind, source_address: event.sourceAddress, detail: JSON.stringify(event.detail) })
      .returningAll()
      .executeTakeFirstOrThrow();
  const chained = () => store.audit.append(event);
  for (let warm = 0; warm < 200; warm++) await chained();
  for (let warm = 0; warm < 200; warm++) await plain();
  const rows: string[] = [];
  for (const [name, work] of [
    ["plain INSERT (before)", plain],
    ["chained append (after)", chained],
  ] as const) {
    const one = await timed(work, 1);
    const many = await timed(work, inFlight);
    rows.push(`  ${name.padEnd(24)} one at a time ${String(one.perCallUs).padStart(6)} µs/append   ${inFlight} in flight ${String(many.perSecond).padStart(6)} appends/s`);
  }
  await database.close();
  console.log(`${label} (${appends} appends per run)\n${rows.join("\n")}`);
}

const dir = mkdtempSync(join(tmpdir(), "pier-bench-audit-"));
try {
  await run("SQLite", { path: join(dir, "pier.db") });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const url = process.env.PIER_BENCH_DATABASE_URL;
if (url !== undefined && url !== "") await run("PostgreSQL", { url });
else {
  await using postgres = await startPostgres();
  await run("PostgreSQL 15 (local, fsync off)", { url: await postgres.createDatabase("bench_audit") });
}
