/**
 * Benchmark: the store's hot paths on kysely — the heartbeat flush (`environments.recordCheckIns`
 * of every device at once, as `HeartbeatRegistry` writes it) and the reads of every hello
 * (`environments.getByEdgeId`, `settings.get`), plus `environments.update`.
 *
 *   npm run bench:store [-- --environments 15000 --rounds 7]
 *   PIER_BENCH_DATABASE_URL=postgres://… npm run bench:store   (also on PostgreSQL: an empty database)
 *
 * Each flush moves every device's check-in forward, so every row is written; the median of
 * --rounds is printed. Reads are timed after a warm-up (the first calls include JIT compilation).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { StoreTarget } from "../packages/server/src/store/database.ts";
import { openStore } from "../packages/server/src/store/open-store.ts";

const { values } = parseArgs({ options: { environments: { type: "string", default: "15000" }, rounds: { type: "string", default: "7" } } });
const count = Number(values.environments);
const rounds = Number(values.rounds);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function perCall(calls: number, work: (index: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let index = 0; index < calls; index++) await work(index);
  return ((performance.now() - start) * 1000) / calls;
}

async function run(label: string, target: StoreTarget): Promise<void> {
  await using store = await openStore(target);
  const fill = performance.now();
  const ids: number[] = [];
  for (let index = 0; index < count; index++) ids.push((await store.environments.create({ name: `edge-${index}`, type: "edge-agent", edgeId: `edge-${index}` })).id);
  const fillMs = performance.now() - fill;

  let at = Date.now();
  const flushes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    at += 1000;
    const batch = ids.map((id) => ({ id, at: new Date(at) }));
    const start = performance.now();
    await store.environments.recordCheckIns(batch);
    flushes.push(performance.now() - start);
  }
  const last = await store.environments.get(ids.at(-1) ?? 0);
  if (last?.lastCheckInAt?.getTime() !== at) throw new Error("the last flush did not reach the store");

  const reads = Math.min(count, 5000);
  await perCall(1000, (index) => store.environments.getByEdgeId(`edge-${index % count}`));
  await perCall(1000, () => store.settings.get());
  const byEdgeId = await perCall(reads, (index) => store.environments.getByEdgeId(`edge-${index}`));
  const settings = await perCall(reads, () => store.settings.get());
  const updates = await perCall(Math.min(count, 1000), (index) => store.environments.update(ids[index] ?? 0, { name: `renamed-${index}` }));
  console.log(
    `${label}: ${count} environments (filled in ${(fillMs / 1000).toFixed(1)} s); flush of ${count} check-ins: median ${median(flushes).toFixed(1)} ms (min ${Math.min(...flushes).toFixed(1)}, max ${Math.max(...flushes).toFixed(1)}); ` +
      `getByEdgeId ${byEdgeId.toFixed(0)} µs, settings.get ${settings.toFixed(0)} µs, update ${updates.toFixed(0)} µs per call`,
  );
}

const dir = mkdtempSync(join(tmpdir(), "pier-bench-store-"));
try {
  await run("sqlite", { path: join(dir, "pier.db") });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const url = process.env["PIER_BENCH_DATABASE_URL"];
if (url !== undefined && url !== "") await run("postgres", { url });
