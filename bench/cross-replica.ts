/**
 * Benchmark: the cost of reaching a device's Docker Engine through another replica (the peer
 * channel, docs/architecture.md "Reaching a device on another replica") against the replica
 * that holds its session.
 *
 *   npx node bench/cross-replica.ts [--requests 500] [--path /_ping]
 *
 * Starts a throwaway PostgreSQL 15, two `pier server` replicas on it behind HAProxy (the e2e
 * fixtures `startPostgres`, `startReplicas`), one real `pier agent` (built-in CA, the local
 * Docker Engine: `bash scripts/ensure-docker.sh`) through the balancer, associates it, reads
 * which replica holds its session (`edge_sessions`), then times --requests sequential
 * `GET /api/endpoints/{id}/docker<path>` on the holding replica (same-replica) and on the other
 * (cross-replica), alternating so load drifts hit both alike, each over one kept-alive HTTPS
 * connection straight to the replica (not through the balancer). Prints p50, p90, p99, mean
 * and max per side and their difference. Everything is removed at the end.
 */
import { existsSync } from "node:fs";
import { Agent, request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startPierAgent, startPostgres, startReplicas, tempDir, until } from "@pier/e2e";

const { values } = parseArgs({ options: { requests: { type: "string", default: "500" }, path: { type: "string", default: "/_ping" } } });
const requests = Number(values.requests);
const dockerPath = values.path;
if (!Number.isInteger(requests) || requests < 10) throw new Error("--requests must be an integer of at least 10");
const password = "correct horse battery staple";

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** One GET over `agent`, resolving with its duration in ms once the body has arrived. */
function timedGet(agent: Agent, port: number, path: string, token: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent, servername: "localhost", headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`${path} answered ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

function summary(samples: number[]): { p50: number; p90: number; p99: number; mean: number; max: number } {
  const sorted = [...samples].sort((x, y) => x - y);
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), mean, max: sorted[sorted.length - 1] ?? Number.NaN };
}

const pg = await startPostgres();
const dir = tempDir("cross-replica");
const replicas = await startReplicas({ dir: dir.path, databaseUrl: await pg.createDatabase("cross_replica"), adminPassword: password });
const agentProcess = startPierAgent({ edgeId: "bench-device", edgeKey: replicas.edgeKey, dataDir: dir.file("agent") });
try {
  const api = await replicas.login("admin", password);
  const token = api.jwt ?? "";
  const [, idText] = await agentProcess.waitFor(/as environment (\d+)/, 30_000);
  const id = Number(idText);
  if ((await api.call("POST", `/api/endpoints/${id}/edge/trust`)).status !== 204) throw new Error("association refused");
  // The certificate issued at association makes the agent reconnect (maybe to the other replica):
  // measure once that has settled.
  await until("the device's certificate", () => Promise.resolve(existsSync(dir.file("agent/identity/current.crt"))), 30_000);
  await sleep(3_000);
  const holderName = await until("the replica holding the device's session", () => {
    const name = pg.query("cross_replica", `SELECT r.name FROM edge_sessions s JOIN replicas r ON r.id = s.replica_id WHERE s.environment_id = ${id}`)[0]?.[0];
    return Promise.resolve(name);
  }, 30_000);
  const holder = replicas.slots.find((slot) => slot.name === holderName);
  const otherSlot = replicas.slots.find((slot) => slot.name !== holderName);
  if (!holder || !otherSlot) throw new Error(`no replica named ${holderName}`);
  const path = `/api/endpoints/${id}/docker${dockerPath}`;
  const sides = [
    { name: "same-replica", port: holder.httpsPort, agent: new Agent({ keepAlive: true, maxSockets: 1, ca: replicas.ca() }), samples: [] as number[] },
    { name: "cross-replica", port: otherSlot.httpsPort, agent: new Agent({ keepAlive: true, maxSockets: 1, ca: replicas.ca() }), samples: [] as number[] },
  ];
  // Warm-up: TLS handshakes, the peer connection, JIT.
  for (let i = 0; i < 20; i++) for (const side of sides) await timedGet(side.agent, side.port, path, token);
  for (let i = 0; i < requests; i++) for (const side of sides) side.samples.push(await timedGet(side.agent, side.port, path, token));
  console.log(`GET ${path}, ${requests} sequential calls per side, one kept-alive HTTPS connection each; session on ${holder.name}`);
  const results = sides.map((side) => ({ side: side.name, ...summary(side.samples) }));
  console.table(results.map((r) => ({ side: r.side, p50: r.p50.toFixed(2), p90: r.p90.toFixed(2), p99: r.p99.toFixed(2), mean: r.mean.toFixed(2), max: r.max.toFixed(2) })));
  const [same, cross] = results;
  if (same && cross) console.log(`peer hop: +${(cross.p50 - same.p50).toFixed(2)} ms at p50, +${(cross.p99 - same.p99).toFixed(2)} ms at p99 (ms)`);
  for (const side of sides) side.agent.destroy();
} finally {
  await agentProcess.stop();
  await replicas.stop();
  await pg.stop();
  await dir[Symbol.asyncDispose]();
}
