/**
 * Benchmark: a fleet through HAProxy (TCP passthrough) on several `pier server` replicas that
 * share one PostgreSQL (docs/architecture.md "Scale-out"), all on this machine.
 *
 *   npx node bench/replicas.ts [--agents 15000] [--replicas 2] [--interval 30] [--duration 60] [--ramp 60] [--docker-calls 200] [--connect-timeout 15]
 *
 * Starts a throwaway PostgreSQL 15 and HAProxy (the e2e fixtures: `startPostgres`,
 * `startHaproxy`), an mTLS CA with one client certificate per agent (bench/fleet/fleet-pki.ts),
 * and the replicas together (`--database-url`, one `--secret-file`, their own `--data` and peer
 * port), sets the check-in interval and trust on first connect on one replica and waits until
 * every replica serves them. Then:
 *
 * - **Docker calls, idle**: one probe device per replica connects straight to that replica (so
 *   which replica holds its session is known) and answers tunnels with a stand-in Docker Engine
 *   (bench/fleet/docker-stand-in.ts: `_ping` → `OK`, no Engine per simulated device can be made
 *   here); `GET /api/endpoints/{id}/docker/_ping` is timed on the replica that holds the
 *   device's session (same-replica) and on the others (cross-replica: the peer channel), one at
 *   a time, over a kept-alive connection per replica.
 * - **The fleet**: --agents simulated agents (bench/fleet/fleet.ts) connect through the
 *   balancer's tunnel port over --ramp seconds and check in every --interval seconds; after one
 *   interval of warm-up, --duration seconds are measured: check-in latency (heartbeat → ack),
 *   each replica's CPU and RSS, PostgreSQL's CPU (postmaster and backends), HAProxy's, the
 *   simulator's, and how the sessions spread over the replicas (`edge_sessions`).
 * - **Docker calls under load**: the same calls again while the fleet stays connected.
 *
 * Everything is removed at the end, also on failure or Ctrl-C. Exit code 0 whatever the figures
 * (it is a benchmark); 1 when the run could not be set up; 130 when interrupted.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freeLoopbackPort, proxySource, startHaproxy, startPostgres, type Haproxy, type PostgresServer } from "@pier/e2e";
import { runBenchmark } from "./fleet/benchmark-process.ts";
import { Fleet } from "./fleet/fleet.ts";
import { writeClusterSecrets } from "./fleet/replica-cluster.ts";
import { createFleetPki, type AgentIdentity } from "./fleet/fleet-pki.ts";
import { LatencySamples, ReasonCounts } from "./fleet/latency-samples.ts";
import { benchmarkOptions, stringOptions } from "./fleet/options.ts";
import { configureFleetSettings, httpsJson } from "./fleet/pier-admin.ts";
import { childrenOf, treeCpuSeconds } from "./fleet/process-tree.ts";
import { ServerProcess, sampleProcess, type ProcessSample } from "./fleet/server-process.ts";
import { SimulatedAgent, describeFailure } from "./fleet/simulated-agent.ts";

const usage = "Usage: npx node bench/replicas.ts [--agents 15000] [--replicas 2] [--interval 30] [--duration 60] [--ramp 60] [--docker-calls 200] [--connect-timeout 15]";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const databaseName = "pier_replicas_bench";
/**
 * Connections one HAProxy takes here: it needs about two file descriptors per connection, and
 * this machine's hard limit (ulimit -Hn) is 20000, which a process cannot raise. Larger fleets
 * are split over several balancers (as DNS round robin over two HAProxy hosts would).
 */
const connectionsPerBalancer = 9_000;
/** After the ramp, how long stragglers may still connect (with retries) before we measure anyway. */
const connectGraceMs = 30_000;

interface Options {
  readonly agents: number;
  readonly replicas: number;
  readonly intervalSeconds: number;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly dockerCalls: number;
  readonly connectTimeoutSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values, integer } = benchmarkOptions(argv, usage, {
    // connect-timeout: how long an agent waits for its welcome before it gives up and retries (the
    // real agent's is 15 s; on a loaded machine a longer wait spares the replicas repeated handshakes).
    ...stringOptions({ agents: "15000", replicas: "2", interval: "30", duration: "60", ramp: "60", "docker-calls": "200", "connect-timeout": "15" }),
  });
  return {
    agents: integer("agents", values.agents, 1, 20_000),
    replicas: integer("replicas", values.replicas, 2, 8),
    intervalSeconds: integer("interval", values.interval, 1, 3600),
    durationSeconds: integer("duration", values.duration, 1, 3600),
    rampSeconds: integer("ramp", values.ramp, 0, 3600),
    dockerCalls: integer("docker-calls", values["docker-calls"], 1, 100_000),
    connectTimeoutSeconds: integer("connect-timeout", values["connect-timeout"], 1, 600),
  };
}

function progress(message: string): void {
  process.stderr.write(`[replicas] ${message}\n`);
}

/** One replica: its process, its name (`--replica-name`) and the session its probe device holds. */
interface Replica {
  readonly name: string;
  readonly server: ServerProcess;
  readonly peerPort: number;
  /** A kept-alive connection for the timed Docker calls. */
  readonly agent: Agent;
  probe?: { agent: SimulatedAgent; environmentId: number };
}

/** Docker call latencies of one kind, and why calls failed. */
interface CallSamples {
  readonly same: LatencySamples;
  readonly cross: LatencySamples;
  readonly failures: ReasonCounts;
}

/** Resources the run owns; released by `cleanUp` however the run ends. */
const owned: { workDir?: string; postgres?: PostgresServer; balancers: Haproxy[]; replicas: Replica[]; fleet?: Fleet; timers: NodeJS.Timeout[] } = { balancers: [], replicas: [], timers: [] };

async function cleanUp(): Promise<void> {
  owned.fleet?.stop();
  for (const timer of owned.timers) clearInterval(timer);
  for (const replica of owned.replicas) {
    replica.probe?.agent.close();
    replica.agent.destroy();
  }
  await Promise.all(owned.balancers.map((balancer) => balancer.stop()));
  await Promise.all(owned.replicas.map((replica) => replica.server.stop()));
  await owned.postgres?.stop();
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  owned.workDir = undefined;
}

/** Logs in on `port` and returns the session token (the replicas share the JWT secret). */
async function login(port: number, ca: Buffer, password: string): Promise<string> {
  const answer = await httpsJson({ port, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: password } });
  const jwt = (answer.body as { jwt?: unknown } | undefined)?.jwt;
  if (answer.status !== 200 || typeof jwt !== "string") throw new Error(`POST /api/auth on 127.0.0.1:${port} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return jwt;
}

/** Waits until `replica` serves the settings made on another one (the settings_changed event). */
async function waitForSettings(replica: Replica, ca: Buffer, jwt: string, intervalSeconds: number, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  let last = "";
  while (performance.now() - started < 15_000) {
    const answer = await httpsJson({ port: replica.server.httpsPort, ca, jwt, method: "GET", path: "/api/settings" });
    const body = answer.body as { EdgeAgentCheckinInterval?: unknown; TrustOnFirstConnect?: unknown } | undefined;
    if (answer.status === 200 && body?.EdgeAgentCheckinInterval === intervalSeconds && body.TrustOnFirstConnect === true) return performance.now() - started;
    last = `${answer.status} ${JSON.stringify(body).slice(0, 200)}`;
    await sleep(100, undefined, { signal });
  }
  throw new Error(`${replica.name} did not serve the new settings within 15 s (last answer: ${last})`);
}

/** Connects `identity` straight to `replica` as a device that answers tunnels, and finds its environment. */
async function connectProbe(replica: Replica, identity: AgentIdentity, caPem: Buffer, apiCa: Buffer, jwt: string, intervalMs: number, signal: AbortSignal): Promise<void> {
  const agent = new SimulatedAgent(identity, { onAck: () => {}, onLost: (reason) => progress(`probe device on ${replica.name} lost its session: ${reason}`) }, { answerTunnels: true });
  await agent.open({ port: replica.server.tunnelPort, ca: caPem, timeoutMs: 15_000 });
  owned.timers.push(setInterval(() => agent.heartbeat(), intervalMs));
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const answer = await httpsJson({ port: replica.server.httpsPort, ca: apiCa, jwt, method: "GET", path: `/api/endpoints?search=${encodeURIComponent(identity.edgeId)}&limit=10` });
    const found = Array.isArray(answer.body) ? (answer.body as { Id: number; EdgeID: string }[]).find((environment) => environment.EdgeID === identity.edgeId) : undefined;
    if (found) {
      replica.probe = { agent, environmentId: found.Id };
      return;
    }
    await sleep(100, undefined, { signal });
  }
  throw new Error(`the probe device ${identity.edgeId} connected to ${replica.name} but no environment lists it`);
}

/** `GET /api/endpoints/{id}/docker/_ping` on `replica`: resolves with the time taken, rejects with the reason. */
function dockerPing(replica: Replica, environmentId: number, ca: Buffer, jwt: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolvePing, reject) => {
    const call = request(
      { host: "127.0.0.1", port: replica.server.httpsPort, path: `/api/endpoints/${environmentId}/docker/_ping`, ca, agent: replica.agent, timeout: 10_000, headers: { authorization: `Bearer ${jwt}` } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => (res.statusCode === 200 && body === "OK" ? resolvePing(performance.now() - started) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 160)}`))));
        res.on("error", reject);
      },
    );
    call.on("timeout", () => call.destroy(new Error("no answer within 10 s")));
    call.on("error", reject);
    call.end();
  });
}

/**
 * Times `calls` Docker calls of each kind, one at a time, interleaved so both kinds see the same
 * conditions: every replica calls every probe device, a few rounds first unrecorded (connections,
 * the peer channel's HTTP/2 sessions).
 */
async function timeDockerCalls(replicas: readonly Replica[], calls: number, ca: Buffer, jwt: string, signal: AbortSignal): Promise<CallSamples> {
  const samples: CallSamples = { same: new LatencySamples(), cross: new LatencySamples(), failures: new ReasonCounts() };
  const warmUpRounds = 3;
  const rounds = Math.ceil(calls / replicas.length) + warmUpRounds;
  for (let round = 0; round < rounds; round++) {
    for (const holder of replicas) {
      for (const caller of replicas) {
        signal.throwIfAborted();
        const probe = holder.probe;
        if (!probe) continue;
        try {
          const ms = await dockerPing(caller, probe.environmentId, ca, jwt);
          if (round >= warmUpRounds) (caller === holder ? samples.same : samples.cross).add(ms);
        } catch (error) {
          samples.failures.add(`${caller === holder ? "same" : "cross"}: ${describeFailure(error)}`);
        }
      }
    }
  }
  return samples;
}

/** Processes measured over the window: CPU seconds at its start, then the difference. */
interface CpuWindow {
  readonly replicas: ProcessSample[];
  readonly postgres: number;
  readonly haproxy: number;
  readonly simulator: NodeJS.CpuUsage;
}

function sampleCpu(replicas: readonly Replica[], postmaster: number | undefined, haproxies: readonly number[]): CpuWindow {
  return {
    replicas: replicas.map((replica) => sampleProcess(replica.server.pid)),
    postgres: postmaster === undefined ? Number.NaN : treeCpuSeconds(postmaster),
    haproxy: haproxies.length === 0 ? Number.NaN : haproxies.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
    simulator: process.cpuUsage(),
  };
}

/** Sessions per replica name, from the session directory (`edge_sessions`) in PostgreSQL. */
function sessionsPerReplica(postgres: PostgresServer): string {
  try {
    const rows = postgres.query(databaseName, "SELECT r.name, count(*) FROM edge_sessions s JOIN replicas r ON r.id = s.replica_id GROUP BY r.name ORDER BY r.name");
    return rows.length === 0 ? "none recorded" : rows.map(([name, count]) => `${name} ${count}`).join(", ");
  } catch (error) {
    return `unknown (${describeFailure(error)})`;
  }
}

const ms = (value: number) => (Number.isNaN(value) ? "n/a" : `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ms`);
const signed = (value: number) => (value >= 0 ? `+${ms(value)}` : ms(value));

function callLines(title: string, samples: CallSamples): string[] {
  const line = (kind: string, latencies: LatencySamples) => {
    const s = latencies.summary();
    return `  ${kind}: ${s.count} calls, p50 ${ms(s.p50)}, p90 ${ms(s.p90)}, p99 ${ms(s.p99)}, max ${ms(s.max)}`;
  };
  const same = samples.same.summary();
  const cross = samples.cross.summary();
  return [
    title,
    line("same replica ", samples.same),
    line("cross replica", samples.cross),
    `  cost of the peer hop (cross − same): p50 ${signed(cross.p50 - same.p50)}, p99 ${signed(cross.p99 - same.p99)}`,
    ...(samples.failures.total === 0 ? [] : [`  failed calls: ${samples.failures.entries().map(([reason, count]) => `${count}× ${reason}`).join("; ")}`]),
  ];
}

async function run(options: Options, signal: AbortSignal): Promise<string[]> {
  const intervalMs = options.intervalSeconds * 1000;
  const workDir = mkdtempSync(join(tmpdir(), "pier-replicas-bench-"));
  owned.workDir = workDir;

  progress("starting PostgreSQL");
  let started = performance.now();
  const postgres = await startPostgres();
  owned.postgres = postgres;
  const databaseUrl = await postgres.createDatabase(databaseName);
  const postgresSeconds = (performance.now() - started) / 1000;
  const postmaster = childrenOf(process.pid, "postgres")[0];

  progress(`issuing ${options.agents + options.replicas} client certificates`);
  started = performance.now();
  const prefix = `rb-${randomBytes(3).toString("hex")}`;
  const pki = await createFleetPki(join(workDir, "pki"), options.agents + options.replicas, prefix);
  const fleetIdentities = pki.agents.slice(0, options.agents);
  const probeIdentities = pki.agents.slice(options.agents);
  const certificatesSeconds = (performance.now() - started) / 1000;
  signal.throwIfAborted();

  const { password, passwordFile, secretFile } = writeClusterSecrets(workDir);
  const balancerPorts = { httpsPort: await freeLoopbackPort(), tunnelPort: await freeLoopbackPort() };

  // Together, as a roll-out starts them: they race for the cluster's first-start lock.
  progress(`starting ${options.replicas} replicas`);
  started = performance.now();
  for (let index = 0; index < options.replicas; index++) {
    const name = `replica-${index}`;
    const peerPort = await freeLoopbackPort();
    const server = await ServerProcess.spawn({
      repoRoot,
      dataDir: join(workDir, name),
      adminPasswordFile: passwordFile,
      mtls: pki.files,
      extraArgs: [
        "--database-url", databaseUrl,
        "--secret-file", secretFile,
        "--peer-bind", `127.0.0.1:${peerPort}`,
        "--peer-address", `127.0.0.1:${peerPort}`,
        "--replica-name", name,
        "--edge-tunnel-address", `localhost:${balancerPorts.tunnelPort}`,
        // HAProxy connects from proxySource with a PROXY v2 header naming each agent's own
        // address (docs/deploy.md "Several replicas"): the per-address limits stay at their defaults.
        "--proxy-protocol-from", `${proxySource}/32`,
        "--max-connections", String(options.agents + 1000),
      ],
    });
    owned.replicas.push({ name, server, peerPort, agent: new Agent({ keepAlive: true, maxSockets: 1 }) });
  }
  const replicas = owned.replicas;
  await Promise.all(replicas.map((replica) => replica.server.ready(90_000, signal)));
  const replicasSeconds = (performance.now() - started) / 1000;
  const [first] = replicas;
  if (!first) throw new Error("no replica");
  const apiCa = readFileSync(join(workDir, first.name, "ca", "ca.crt"));
  for (const replica of replicas) {
    if (!readFileSync(join(workDir, replica.name, "ca", "ca.crt")).equals(apiCa)) throw new Error(`${replica.name} serves another built-in CA than ${first.name}: the replicas did not form one cluster`);
  }

  await configureFleetSettings({ port: first.server.httpsPort, ca: apiCa, password, intervalSeconds: options.intervalSeconds });
  const jwt = await login(first.server.httpsPort, apiCa, password);
  const propagation = await Promise.all(replicas.map((replica) => waitForSettings(replica, apiCa, jwt, options.intervalSeconds, signal)));
  progress(`replicas ${replicas.map((r) => `${r.name} (pid ${r.server.pid}, https ${r.server.httpsPort}, tunnel ${r.server.tunnelPort}, peer ${r.peerPort})`).join(", ")} serve interval ${options.intervalSeconds} s`);

  const balancerCount = Math.ceil(options.agents / connectionsPerBalancer);
  const backends = replicas.map((replica) => ({ httpsPort: replica.server.httpsPort, tunnelPort: replica.server.tunnelPort }));
  for (let index = 0; index < balancerCount; index++) {
    const ports = index === 0 ? balancerPorts : {};
    owned.balancers.push(await startHaproxy(backends, { ...ports, maxConnections: Math.ceil(options.agents / balancerCount) + 500, sendProxy: true }));
  }
  const balancers = owned.balancers;
  const haproxies = childrenOf(process.pid, "haproxy");

  for (const [index, replica] of replicas.entries()) {
    const identity = probeIdentities[index];
    if (identity) await connectProbe(replica, identity, pki.caPem, apiCa, jwt, intervalMs, signal);
  }
  progress(`probe devices: ${replicas.map((r) => `environment ${r.probe?.environmentId} on ${r.name}`).join(", ")}; timing Docker calls (idle)`);
  const idleCalls = await timeDockerCalls(replicas, options.dockerCalls, apiCa, jwt, signal);

  // The fleet, through the balancer.
  const fleetStart = performance.now();
  const connectDeadline = fleetStart + options.rampSeconds * 1000 + connectGraceMs;
  const targets = balancers.map((balancer) => ({ port: balancer.tunnelPort, ca: pki.caPem, timeoutMs: options.connectTimeoutSeconds * 1000 }));
  // Each agent leaves from an address of its own, 127.1.x.y, as devices do from their networks.
  const fleetTarget = (index: number) => ({ ...(targets[index % targets.length] ?? targets[0]!), localAddress: `127.1.${(index >> 8) & 255}.${index & 255}` });
  const fleet = new Fleet({ identities: fleetIdentities, target: fleetTarget, intervalMs, rampMs: options.rampSeconds * 1000, retryUntil: connectDeadline });
  owned.fleet = fleet;
  progress(`connecting ${options.agents} agents through ${balancers.length} HAProxy (tunnel ports ${balancers.map((b) => b.tunnelPort).join(", ")}) over ${options.rampSeconds} s`);
  const beforeRamp = sampleCpu(replicas, postmaster, haproxies);
  fleet.start();
  let lastReport = 0;
  while (fleet.connected < fleet.size && performance.now() < connectDeadline) {
    await sleep(100, undefined, { signal });
    if (performance.now() - lastReport >= 5_000) {
      lastReport = performance.now();
      progress(`connected ${fleet.connected}/${fleet.size}, connect failures ${fleet.connectFailures.total}`);
    }
  }
  const rampSeconds = (performance.now() - fleetStart) / 1000;
  const afterRamp = sampleCpu(replicas, postmaster, haproxies);
  const connected = fleet.connected;
  if (connected === 0) throw new Error(`No agent could connect. Reasons: ${JSON.stringify(fleet.connectFailures.entries())}\n${replicas.map((r) => `${r.name}:\n${r.server.output()}`).join("\n")}`);
  progress(`connected ${connected}/${options.agents} in ${rampSeconds.toFixed(1)} s; warming up for ${options.intervalSeconds} s`);
  await sleep(intervalMs, undefined, { signal });

  progress(`measuring for ${options.durationSeconds} s`);
  const atStart = sampleCpu(replicas, postmaster, haproxies);
  const window = fleet.beginWindow();
  const connectedAtStart = fleet.connected;
  await sleep(options.durationSeconds * 1000, undefined, { signal });
  fleet.endWindow(window);
  const atEnd = sampleCpu(replicas, postmaster, haproxies);
  const connectedAtEnd = fleet.connected;
  const sessions = sessionsPerReplica(postgres);
  const ackDeadline = performance.now() + 5_000;
  while (window.acked < window.sent && fleet.inFlight > 0 && performance.now() < ackDeadline) await sleep(50, undefined, { signal });

  progress("timing Docker calls with the fleet connected");
  const loadedCalls = await timeDockerCalls(replicas, options.dockerCalls, apiCa, jwt, signal);
  const load = loadavg()[0] ?? Number.NaN;

  const seconds = (window.end - window.start) / 1000;
  const latency = window.latencies.summary();
  const percent = (cpuSeconds: number) => `${((cpuSeconds / seconds) * 100).toFixed(1)} %`;
  const simulatorCpu = process.cpuUsage(atStart.simulator);
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  return [
    `Replicas benchmark: ${options.agents} agents through HAProxy (TCP${balancers.length > 1 ? `, ${balancers.length} instances each in front of every replica, one per ${connectionsPerBalancer} agents: the file-descriptor limit` : ""}) on ${options.replicas} replicas sharing one PostgreSQL 15, check-in every ${options.intervalSeconds} s`,
    `command: npx node bench/replicas.ts --agents ${options.agents} --replicas ${options.replicas} --interval ${options.intervalSeconds} --duration ${options.durationSeconds} --ramp ${options.rampSeconds} --docker-calls ${options.dockerCalls} --connect-timeout ${options.connectTimeoutSeconds}`,
    `machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}; everything (replicas, PostgreSQL, HAProxy, simulator) on it; 1-minute load average at the end ${load.toFixed(2)}`,
    `set-up: PostgreSQL ${postgresSeconds.toFixed(1)} s, ${options.agents + options.replicas} certificates ${certificatesSeconds.toFixed(1)} s, replicas ready ${replicasSeconds.toFixed(1)} s, settings on every replica after ${Math.max(...propagation).toFixed(0)} ms`,
    `ramp: ${connected}/${options.agents} connected in ${rampSeconds.toFixed(1)} s (connect p50 ${ms(fleet.setupTimes.summary().p50)}, p99 ${ms(fleet.setupTimes.summary().p99)}); connect failures ${fleet.connectFailures.total}${fleet.connectFailures.total ? ` (${fleet.connectFailures.entries().slice(0, 3).map(([r, n]) => `${n}× ${r}`).join("; ")})` : ""}; welcomes with another interval ${fleet.intervalMismatches}`,
    `  CPU during the ramp: ${replicas.map((r, i) => `${r.name} ${((afterRamp.replicas[i]?.cpuSeconds ?? 0) - (beforeRamp.replicas[i]?.cpuSeconds ?? 0)).toFixed(1)} s`).join(", ")}, PostgreSQL ${(afterRamp.postgres - beforeRamp.postgres).toFixed(1)} s, HAProxy ${(afterRamp.haproxy - beforeRamp.haproxy).toFixed(1)} s`,
    `sessions per replica (edge_sessions): ${sessions}`,
    `window: ${seconds.toFixed(1)} s after ${options.intervalSeconds} s of warm-up; connected ${connectedAtStart} → ${connectedAtEnd}; lost sessions ${fleet.lostSessions.total}${fleet.lostSessions.total ? ` (${fleet.lostSessions.entries().slice(0, 3).map(([r, n]) => `${n}× ${r}`).join("; ")})` : ""}`,
    `check-ins: ${window.sent} sent, ${window.acked} acked (${(window.acked / seconds).toFixed(0)}/s); latency p50 ${ms(latency.p50)}, p90 ${ms(latency.p90)}, p99 ${ms(latency.p99)}, max ${ms(latency.max)}`,
    `CPU over the window (share of one core):`,
    ...replicas.map((replica, index) => {
      const a = atStart.replicas[index];
      const b = atEnd.replicas[index];
      if (!a || !b) return `  ${replica.name}: n/a`;
      return `  ${replica.name}: ${percent(b.cpuSeconds - a.cpuSeconds)} (user ${percent(b.userSeconds - a.userSeconds)}, system ${percent(b.systemSeconds - a.systemSeconds)}), RSS ${mib(b.rssBytes)}, peak ${mib(b.peakRssBytes)}`;
    }),
    `  PostgreSQL (postmaster and backends): ${percent(atEnd.postgres - atStart.postgres)}`,
    `  HAProxy${balancers.length > 1 ? ` (${balancers.length} processes)` : ""}: ${percent(atEnd.haproxy - atStart.haproxy)}`,
    `  simulator (this process): ${percent((simulatorCpu.user + simulatorCpu.system) / 1e6)}`,
    ...callLines(`Docker GET /_ping through the API, idle (probe devices only), one at a time:`, idleCalls),
    ...callLines(`Docker GET /_ping through the API with ${connectedAtEnd} agents connected:`, loadedCalls),
  ];
}

process.exitCode = await runBenchmark({
  name: "replicas benchmark",
  parse: () => parseOptions(process.argv.slice(2)),
  budgetMs: (options) => 300_000 + (options.rampSeconds + options.intervalSeconds + options.durationSeconds) * 1000 + connectGraceMs + options.dockerCalls * 2 * 1000,
  run: async (options, signal) => {
    const lines = await run(options, signal);
    owned.fleet?.stop();
    return lines;
  },
  cleanUp,
  killNow: () => {
    for (const replica of owned.replicas) replica.server.killNow();
    if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  },
  progress,
  onFailure: () => {
    for (const replica of owned.replicas) {
      const output = replica.server.output().trim();
      if (output) console.error(`${replica.name} printed (last lines):\n${output.split("\n").slice(-15).join("\n")}`);
    }
  },
});
// Everything is closed by now; a handle left open by a library must not make the run unbounded.
setTimeout(() => process.exit(), 5_000).unref();
