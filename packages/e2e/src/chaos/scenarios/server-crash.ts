import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { startBenchServer } from "../../../../../bench/fleet/bench-server.ts";
import { wallNow, type Recovery } from "../../../../../bench/fleet/fleet.ts";
import { FleetGroup } from "../../../../../bench/fleet/fleet-group.ts";
import { connectStormFleet } from "../../../../../bench/fleet/fleet-phases.ts";
import { LatencySamples } from "../../../../../bench/fleet/latency-samples.ts";
import { listening } from "../../../../../bench/fleet/port-listening.ts";
import type { ServerProcess } from "../../../../../bench/fleet/server-process.ts";
import { PierApi } from "../../pier-api.ts";
import { startPostgres, type PostgresServer } from "../../postgres.ts";
import { AcknowledgedWrites } from "../acknowledged-writes.ts";
import type { ChaosOptions, ChaosRecorder, ChaosScenario } from "../scenario.ts";
import { auditChainIntegrity, caIntegrity, copyCa, copyCrashedSqlite, postgresIntegrity, sqliteIntegrity } from "../store-integrity.ts";

const repoRoot = join(import.meta.dirname, "..", "..", "..", "..", "..");

/** How big a crash: the fleet, how long the writes run before the kill, and on which stores. */
interface CrashPlan {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly rampSeconds: number;
  /** Writes in flight this long before the kill. */
  readonly writeSeconds: number;
  /** Concurrent loops per kind of write (associations, stack writes, tags). */
  readonly loopsPerKind: number;
  /** How long after the restart the agents may take before the run stops waiting (not the promise: two intervals is). */
  readonly backLimitSeconds: number;
  readonly engines: readonly ("sqlite" | "postgres")[];
}

const fullPlan: CrashPlan = { agents: 1000, intervalSeconds: 5, rampSeconds: 30, writeSeconds: 20, loopsPerKind: 3, backLimitSeconds: 60, engines: ["sqlite", "postgres"] };
const shortPlan: CrashPlan = { agents: 200, intervalSeconds: 5, rampSeconds: 8, writeSeconds: 6, loopsPerKind: 2, backLimitSeconds: 40, engines: ["sqlite"] };

/** Environments associated before the writes start, and put in the edge group every stack targets. */
const stackTargets = 20;

/** When each agent came back after `since` (wall ms): its session welcomed, and its first heartbeat acked. */
function backTimes(recovery: Recovery, since: number): { welcomed: LatencySamples; acked: LatencySamples; out: number } {
  const welcomed = new LatencySamples();
  const acked = new LatencySamples();
  let out = 0;
  for (let i = 0; i < recovery.welcomedAt.length; i++) {
    const welcomedAt = recovery.welcomedAt[i] ?? Number.NaN;
    const ackedAt = recovery.ackedAt[i] ?? Number.NaN;
    if (!(welcomedAt >= since)) {
      out++;
      continue;
    }
    welcomed.add(welcomedAt);
    if (ackedAt >= welcomedAt) acked.add(ackedAt);
  }
  return { welcomed, acked, out };
}

/** The cluster secret `--database-url` needs (it seals the shared private keys in the database), 0600 in `workDir`. */
function clusterSecret(workDir: string): string {
  const file = join(workDir, "cluster-secret");
  writeFileSync(file, randomBytes(48).toString("base64"), { mode: 0o600 });
  return file;
}

/** One crash on one store: set up, write, kill -9, check the files, restart, measure, read back; everything removed at the end. */
async function crashOnce(plan: CrashPlan, engine: "sqlite" | "postgres", options: ChaosOptions, recorder: ChaosRecorder): Promise<void> {
  const prefix = engine === "sqlite" ? "" : "pg ";
  const log = (line: string) => options.log(`[${engine}] ${line}`);
  const workDir = mkdtempSync(join(tmpdir(), "pier-chaos-server-crash-"));
  const dataDir = join(workDir, "data");
  const runId = randomBytes(3).toString("hex");
  const controller = new AbortController();
  const { signal } = controller;
  let server: ServerProcess | undefined;
  let fleet: FleetGroup | undefined;
  let postgres: PostgresServer | undefined;
  try {
    let databaseUrl: string | undefined;
    if (engine === "postgres") {
      postgres = await startPostgres();
      databaseUrl = await postgres.createDatabase("pier_chaos_server_crash");
    }
    const bench = await startBenchServer({
      repoRoot,
      workDir,
      agents: plan.agents,
      intervalSeconds: plan.intervalSeconds,
      serverArgs: databaseUrl === undefined ? [] : ["--database-url", databaseUrl, "--secret-file", clusterSecret(workDir)],
      signal,
      progress: log,
      onServer: (started) => (server = started),
    });
    let running = bench.server;
    const baseUrl = `https://127.0.0.1:${running.httpsPort}`;
    const apiCa = readFileSync(join(dataDir, "ca", "ca.crt"));
    const password = readFileSync(join(workDir, "admin-password"), "utf8");
    const api = new PierApi(baseUrl, { ca: apiCa });
    await api.login("admin", password);
    // The fleet lands in the waiting room: its association is one of the writes in flight.
    const settings = await api.call("PUT", "/api/settings", { TrustOnFirstConnect: false });
    if (settings.status !== 200) throw new Error(`PUT /api/settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);

    // Two simulator processes: the devices' dials and handshakes do not wait for this process's checks.
    fleet = new FleetGroup(2);
    await connectStormFleet(
      fleet,
      { pki: bench.pki, ports: [running.tunnelPort], agents: plan.agents, intervalSeconds: plan.intervalSeconds, rampSeconds: plan.rampSeconds, baselineSeconds: 0, processes: 2, connectGraceMs: 30_000, destination: "", output: () => running.output(), progress: log },
      signal,
    );
    const connected = (await fleet.snapshot()).connected;
    recorder.check(`${prefix}every agent connected before the crash`, connected === plan.agents, `${connected}/${plan.agents} connected`);

    const waiting = (await api.endpoints({ edgeDeviceUntrusted: true })).map((endpoint) => endpoint.Id);
    const targets = waiting.splice(0, stackTargets);
    for (const id of targets) {
      const trusted = await api.call("POST", `/api/endpoints/${id}/edge/trust`);
      if (trusted.status !== 204) throw new Error(`POST /api/endpoints/${id}/edge/trust answered ${trusted.status}: ${JSON.stringify(trusted.body)}`);
    }
    const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: `chaos-crash-${runId}`, Dynamic: false, Endpoints: targets });
    if (group.status !== 200) throw new Error(`POST /api/edge_groups answered ${group.status}: ${JSON.stringify(group.body)}`);

    // A real fleet's sessions are hours old when its server dies: every agent's backoff starts over.
    await fleet.markSessionsHealthy();
    const writes = new AcknowledgedWrites(api, { waiting, edgeGroupId: group.body.Id, loopsPerKind: plan.loopsPerKind, runId });
    const stopWrites = new AbortController();
    log(`${plan.agents} agents in; writing from ${plan.loopsPerKind * 3} loops for ${plan.writeSeconds} s, then kill -9`);
    const writing = writes.run(stopWrites.signal);
    await sleep(plan.writeSeconds * 1000, undefined, { signal });

    await fleet.resetReconnectStats();
    const beforeKill = await fleet.snapshot();
    const killedAt = wallNow();
    running.signal("SIGKILL");
    await running.exited;
    stopWrites.abort();
    await writing;
    log(`killed with ${writes.acknowledged} writes acknowledged, ${writes.unanswered} in flight`);

    // The files as the crash left them, copied before the restart (milliseconds: a supervisor
    // restarts at once, and the agents' backoff climbs while the port is closed), checked while
    // the restarted server recovers the originals itself. PostgreSQL is checked before the restart.
    const checkDir = join(workDir, "crash-copy");
    const sqliteCopy = engine === "sqlite" ? copyCrashedSqlite(dataDir, checkDir) : undefined;
    const caCopy = copyCa(join(dataDir, "ca"), join(checkDir, "ca"));
    if (engine === "postgres") {
      const checkedAt = performance.now();
      const store = await postgresIntegrity(postgres?.adminUrl ?? "", "pier_chaos_server_crash");
      recorder.check(`${prefix}database intact after the crash`, store.ok, store.detail);
      const chain = await auditChainIntegrity({ databaseUrl: databaseUrl ?? "" });
      recorder.check(`${prefix}audit chain intact after the crash`, chain.ok, chain.detail);
      recorder.figure(`${prefix}checks before the restart`, Math.round(performance.now() - checkedAt), "ms");
    }

    const restarted = await running.restart();
    running = restarted;
    server = restarted;
    const acceptingAt = await listening(restarted.tunnelPort, () => !restarted.running, signal);
    if (Number.isNaN(acceptingAt)) throw new Error(`the restarted server exited:\n${restarted.output()}`);
    recorder.figure(`${prefix}kill → accepting`, Math.round(acceptingAt - killedAt), "ms");
    log(`listening again ${((acceptingAt - killedAt) / 1000).toFixed(1)} s after the kill`);

    if (sqliteCopy !== undefined) {
      const store = sqliteIntegrity(sqliteCopy);
      recorder.check(`${prefix}database intact after the crash`, store.ok, store.detail);
      const chain = await auditChainIntegrity({ dataDir: checkDir });
      recorder.check(`${prefix}audit chain intact after the crash`, chain.ok, chain.detail);
    }
    const ca = caIntegrity(caCopy);
    recorder.check(`${prefix}CA state intact after the crash`, ca.ok, ca.detail);

    const limitAt = acceptingAt + plan.backLimitSeconds * 1000;
    let back = backTimes(await fleet.recovery(), killedAt);
    for (let lastReport = 0; (back.out > 0 || back.acked.count < plan.agents) && wallNow() < limitAt; back = backTimes(await fleet.recovery(), killedAt)) {
      if (performance.now() - lastReport >= 2_000) {
        lastReport = performance.now();
        log(`${((wallNow() - acceptingAt) / 1000).toFixed(1)} s after accepting: ${plan.agents - back.out}/${plan.agents} back`);
      }
      await sleep(100, undefined, { signal });
    }
    const welcomed = back.welcomed.summary();
    const reconnect = await fleet.snapshot();
    log(
      `back: dials ${reconnect.reconnect.dials}, handshakes ${reconnect.reconnect.handshakes} (${reconnect.resumedHandshakes - beforeKill.resumedHandshakes} resumed), largest wait ${Math.round(reconnect.reconnect.largestWaitMs)} ms (attempt ${reconnect.reconnect.largestAttempt}); refused with retry-after ${JSON.stringify(reconnect.reconnect.refusedWithRetryAfter)}; failed dials ${JSON.stringify(reconnect.connectFailures.slice(0, 6))}`,
    );
    const since = (at: number) => Math.max(0, Math.round(at - acceptingAt));
    recorder.figure(`${prefix}all back`, back.out === 0 ? since(welcomed.max) : Number.NaN, "ms");
    recorder.figure(`${prefix}back p50`, since(welcomed.p50), "ms");
    recorder.figure(`${prefix}back p99`, since(welcomed.p99), "ms");
    const boundMs = 2 * plan.intervalSeconds * 1000;
    recorder.check(
      `${prefix}all agents back within two check-in intervals`,
      back.out === 0 && welcomed.max - acceptingAt <= boundMs,
      back.out === 0
        ? `the last agent's session was welcomed ${(since(welcomed.max) / 1000).toFixed(1)} s after the restarted server accepted (bound ${boundMs / 1000} s); largest reconnect wait ${(await fleet.snapshot()).reconnect.largestWaitMs} ms`
        : `${back.out}/${plan.agents} agents not back ${plan.backLimitSeconds} s after the restarted server accepted; failures: ${JSON.stringify((await fleet.snapshot()).connectFailures.slice(0, 5))}`,
    );
    recorder.check(`${prefix}every agent back checks in`, back.acked.count === plan.agents, `${back.acked.count}/${plan.agents} had a heartbeat acknowledged after their new welcome`);

    await restarted.ready(30_000, signal);
    const after = new PierApi(baseUrl, { ca: apiCa });
    await after.login("admin", password);
    const verdict = await writes.verify(after);
    recorder.figure(`${prefix}acknowledged`, verdict.acknowledged);
    recorder.figure(`${prefix}found`, verdict.found);
    recorder.figure(`${prefix}in flight`, writes.unanswered);
    const kinds = Object.entries(verdict.byKind);
    const perKind = kinds.map(([kind, count]) => `${kind} ${count.found}/${count.acknowledged}`).join(", ");
    recorder.check(`${prefix}writes of every kind acknowledged before the kill`, kinds.every(([, count]) => count.acknowledged > 0) && writes.refused === 0, `${perKind}; refused ${writes.refused}${writes.refusals.length > 0 ? `: ${writes.refusals.join(" | ")}` : ""}`);
    recorder.check(`${prefix}every change that landed is audited`, verdict.audited === verdict.landed, `${verdict.audited}/${verdict.landed} changes of the write loops have their audit entry${verdict.unaudited.length > 0 ? `; ${verdict.unaudited.join(" | ")}` : ""}`);
    recorder.check(`${prefix}nothing acknowledged lost`, verdict.found === verdict.acknowledged, `${perKind}${verdict.missing.length > 0 ? `; missing: ${verdict.missing.join(" | ")}` : ""}`);
  } finally {
    controller.abort();
    await fleet?.stop();
    await server?.stop();
    await postgres?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * `server-crash` (docs/chaos.md): `kill -9` of `pier server` with a fleet of simulated agents
 * connected (1,000; 200 in CI) and writes in flight through the API (associations from the
 * waiting room, edge stack creates and updates, tags; each adds an audit entry). Before the
 * restart: the store's integrity (SQLite `integrity_check` and `foreign_key_check`, PostgreSQL
 * `pg_amcheck`), the audit hash chain and the built-in CA's files; after it, on the same data and
 * ports: every acknowledged write read back, and every agent back within two check-in intervals
 * of the restarted server accepting. The full version runs on SQLite, then on PostgreSQL.
 */
export const serverCrash: ChaosScenario = {
  name: "server-crash",
  summary: "kill -9 of pier server under a fleet with API writes in flight: nothing acknowledged lost, store, audit chain and CA intact, every agent back within two check-in intervals",
  async run(options, recorder) {
    const plan = options.short ? shortPlan : fullPlan;
    for (const engine of plan.engines) await crashOnce(plan, engine, options, recorder);
  },
};
