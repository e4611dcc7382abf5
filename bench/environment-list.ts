/**
 * Benchmark: the Home list of a 10,000-device fleet, one page against the whole list as Pier
 * built it before issue 18 (every environment, each with its full Docker snapshot parsed and its
 * certificates read).
 *
 *   npm run bench:list [-- --environments 10000 --requests 50 --page-size 25 --full-runs 5 --old-runs 5 --only sqlite|postgres]
 *   PIER_BENCH_DATABASE_URL=postgres://… npm run bench:list   (also on PostgreSQL: an empty database)
 *
 * Fills a store with N environments, each with a snapshot of 20 containers, 15 images and 5
 * volumes (and its Docker summary), a client certificate and an agent, then times:
 *   - the page: `environments.page` (25 by name, random start, Home filter) and the views the
 *     route builds from it, p50/p99 over --requests;
 *   - the whole list without snapshots (`GET /api/endpoints` without limit, as scripts call it);
 *   - the old whole list: `environments.list()`, then per environment `snapshots.get` (the full
 *     snapshot, checked by the schema), `certificates.listByEnvironment` and `settings.get`;
 * in-process on the store (the route's work without HTTP), on SQLite and, when asked, PostgreSQL.
 * On SQLite it also times `GET /api/endpoints?limit=25` over HTTPS on a real `pier server`.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { DockerSnapshot } from "@pier/protocol";
import { PierApi, startPierServer, tempDir } from "@pier/e2e";
import { endpointView } from "../packages/server/src/api/views.ts";
import { summarizeDockerSnapshot } from "../packages/server/src/docker/docker-summary.ts";
import type { StoreTarget } from "../packages/server/src/store/database.ts";
import { openMigratedDatabase, openStore } from "../packages/server/src/store/open-store.ts";
import type { Store } from "../packages/server/src/store/store.ts";
import { LatencySamples } from "./fleet/latency-samples.ts";

const { values } = parseArgs({ options: { environments: { type: "string", default: "10000" }, requests: { type: "string", default: "50" }, "page-size": { type: "string", default: "25" }, "full-runs": { type: "string", default: "5" }, "old-runs": { type: "string" }, only: { type: "string" } } });
const environmentCount = Number(values.environments);
const requests = Number(values.requests);
const pageSize = Number(values["page-size"]);
const fullRuns = Number(values["full-runs"]);
const oldRuns = Number(values["old-runs"] ?? fullRuns);

function snapshotOf(index: number): DockerSnapshot {
  const states = ["running", "running", "running", "exited", "created"];
  return {
    collectedAt: new Date().toISOString(),
    engine: { version: "27.3.1", apiVersion: "1.47", os: "linux", arch: "arm64", kernelVersion: "6.6.31" },
    host: { name: `host-${index}`, cpus: 4, memoryBytes: 8_254_390_272 },
    containers: Array.from({ length: 20 }, (_, c) => ({
      id: randomBytes(32).toString("hex"),
      names: [`/service-${c}`],
      image: `registry.example.com/team/service-${c}:1.${c}`,
      state: states[c % states.length] ?? "running",
      status: c % 7 === 0 ? "Up 3 hours (healthy)" : "Up 3 hours",
      created: 1_740_000_000 + c,
    })),
    images: Array.from({ length: 15 }, (_, i) => ({ id: `sha256:${randomBytes(32).toString("hex")}`, tags: [`registry.example.com/team/service-${i}:1.${i}`], sizeBytes: 100_000_000 + i, created: 1_739_000_000 + i })),
    volumes: Array.from({ length: 5 }, (_, v) => ({ name: `data-${v}`, driver: "local" })),
    networks: [{ id: randomBytes(32).toString("hex"), name: "bridge", driver: "bridge" }],
  };
}

/** Fills the store at `target` with `count` environments and their snapshots, 500 rows per statement. */
async function fill(target: StoreTarget, count: number): Promise<void> {
  const database = await openMigratedDatabase(target);
  const now = Date.now();
  try {
    for (let first = 0; first < count; first += 500) {
      const indexes = Array.from({ length: Math.min(500, count - first) }, (_, i) => first + i);
      const rows = await database.db
        .insertInto("environments")
        .values(
          indexes.map((i) => ({
            name: `${["berlin", "lisbon", "oslo", "Quito", "nairobi"][i % 5]}-site-${String(i).padStart(5, "0")}`,
            type: "edge-agent",
            edge_id: `edge-${i}-${randomBytes(4).toString("hex")}`,
            edge_key_environment: 0,
            user_trusted: i % 50 === 0 ? 0 : 1,
            checkin_interval_seconds: null,
            created_at: now - (count - i) * 1000,
            last_check_in_at: now - (i % 90) * 1000,
            agent: JSON.stringify({ version: "0.1.0", platform: "docker", hostname: `host-${i}`, os: "linux", arch: "arm64" }),
            source_address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
            client_certificate: JSON.stringify({ subject: `CN=edge-${i}`, serialNumber: i.toString(16), fingerprintSha256: randomBytes(32).toString("hex"), notAfter: now + 86_400_000 * 90, issuer: "CN=Fleet CA" }),
            identity_kind: "certificate",
            identity_value: randomBytes(32).toString("hex"),
          })),
        )
        .returning("id")
        .execute();
      await database.db
        .insertInto("snapshots")
        .values(
          rows.map(({ id }, i) => {
            const snapshot = snapshotOf(first + i);
            return { environment_id: id, collected_at: now, json: JSON.stringify(snapshot), summary: JSON.stringify(summarizeDockerSnapshot(snapshot)) };
          }),
        )
        .execute();
    }
  } finally {
    await database.close();
  }
}

/** What `GET /api/endpoints?limit=…` does with the store: one page and its views. */
async function pageRoute(store: Store, start: number): Promise<number> {
  const settings = await store.settings.get();
  const page = await store.environments.page({ waiting: false, sort: "name", start, limit: pageSize });
  const views = page.items.map((item) =>
    endpointView(item, settings, { lastCheckIn: item.lastCheckInAt, connected: false, docker: item.docker, certificates: item.newestCertificate ? [item.newestCertificate] : [], sharedBy: item.clientCertificateSharedBy }),
  );
  return JSON.stringify(views).length;
}

/** The same without `limit`: every environment, summaries only (scripts). */
async function wholeListRoute(store: Store): Promise<number> {
  const settings = await store.settings.get();
  const page = await store.environments.page({});
  return JSON.stringify(page.items.map((item) => endpointView(item, settings, { lastCheckIn: item.lastCheckInAt, connected: false, docker: item.docker, certificates: item.newestCertificate ? [item.newestCertificate] : [] }))).length;
}

/** The list route before issue 18 (api/routes/endpoints.ts at c38ea3f), on today's store. */
async function oldWholeListRoute(store: Store): Promise<number> {
  const list = await store.environments.list();
  const shared = new Map<string, number>();
  for (const environment of list) {
    const fingerprint = environment.clientCertificate?.fingerprintSha256;
    if (fingerprint !== undefined) shared.set(fingerprint, (shared.get(fingerprint) ?? 0) + 1);
  }
  const views = await Promise.all(
    list.map(async (environment) => {
      const settings = await store.settings.get();
      const stored = await store.snapshots.get(environment.id);
      const certificates = await store.certificates.listByEnvironment(environment.id);
      const fingerprint = environment.clientCertificate?.fingerprintSha256;
      return endpointView(environment, settings, {
        lastCheckIn: environment.lastCheckInAt,
        connected: false,
        docker: stored && { at: stored.at, summary: summarizeDockerSnapshot(stored.snapshot) },
        certificates,
        ...(fingerprint === undefined ? {} : { sharedBy: shared.get(fingerprint) ?? 1 }),
      });
    }),
  );
  return JSON.stringify(views).length;
}

async function timed(runs: number, call: (run: number) => Promise<unknown>): Promise<LatencySamples> {
  const samples = new LatencySamples();
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await call(run);
    samples.add(performance.now() - started);
  }
  return samples;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const line = (label: string, samples: LatencySamples) => {
  const { count, p50, p99 } = samples.summary();
  console.log(`  ${label.padEnd(58)} p50 ${ms(p50).padStart(10)}  p99 ${ms(p99).padStart(10)}  (${count} runs)`);
};

async function measureStore(label: string, target: StoreTarget): Promise<void> {
  const filling = performance.now();
  await fill(target, environmentCount);
  console.log(`\n${label}: ${environmentCount} environments with snapshots, filled in ${((performance.now() - filling) / 1000).toFixed(1)} s`);
  const store = await openStore(target);
  try {
    const total = (await store.environments.page({ waiting: false, limit: 1 })).total;
    const starts = Array.from({ length: requests }, () => Math.floor(Math.random() * Math.max(1, total - pageSize)));
    const pageBytes = await pageRoute(store, 0);
    line(`page of ${pageSize} by name (${pageBytes} bytes of JSON)`, await timed(requests, (run) => pageRoute(store, starts[run] ?? 0)));
    const wholeBytes = await wholeListRoute(store);
    line(`whole list, summaries only (${wholeBytes} bytes)`, await timed(fullRuns, () => wholeListRoute(store)));
    try {
      if (oldRuns > 0) line("whole list as before issue 18 (full snapshots)", await timed(oldRuns, () => oldWholeListRoute(store)));
    } catch (error) {
      // On PostgreSQL the old route's 10,000 concurrent queries wait for the pool's 10 connections.
      console.log(`  whole list as before issue 18 (full snapshots)             failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  } finally {
    await store.close();
  }
}

await using dir = tempDir("bench-environment-list");
console.log(`environment list benchmark: ${environmentCount} environments, page size ${pageSize}, ${requests} page requests, ${fullRuns} whole-list runs (in-process, the route's store work and views)`);
const only = values.only;
if (only !== "postgres") await measureStore("SQLite", { path: dir.file("data/pier.db") });

const databaseUrl = process.env["PIER_BENCH_DATABASE_URL"];
if (databaseUrl && only !== "sqlite") await measureStore("PostgreSQL", { url: databaseUrl });
else if (only !== "sqlite") console.log("\nPostgreSQL: skipped (set PIER_BENCH_DATABASE_URL to an empty database to include it)");

// The same page over HTTPS on a real server, on the SQLite file filled above.
if (only !== "postgres") await overHttps();

async function overHttps(): Promise<void> {
  const password = "benchmark password 1";
  writeFileSync(dir.file("pw"), `${password}\n`, { mode: 0o600 });
  await using server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("pw")] });
  const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
  const path = (start: number) => `/api/endpoints?waitingRoom=false&sort=Name&start=${start}&limit=${pageSize}`;
  const first = await api.call<unknown[]>("GET", path(0));
  if (first.status !== 200 || first.body.length !== pageSize) throw new Error(`GET ${path(0)} answered ${first.status} with ${first.body.length} items`);
  const http = await timed(requests, () => api.call("GET", path(Math.floor(Math.random() * (environmentCount - pageSize)))));
  const httpWhole = await timed(fullRuns, () => api.call("GET", "/api/endpoints"));
  console.log("\nSQLite over HTTPS (real pier server, one client, sequential):");
  line(`GET /api/endpoints?limit=${pageSize}&sort=Name&start=<random>`, http);
  line("GET /api/endpoints (whole list, summaries only)", httpWhole);
}
