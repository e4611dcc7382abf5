/**
 * Benchmark: a fleet of simulated edge agents against a real `pier server` process, over real
 * mutual TLS on 127.0.0.1 (each agent from its own loopback address), speaking the session
 * protocol (docs/protocol.md).
 *
 *   npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20]
 *                                     [--processes P] [--server-cpu-prof DIR] [--server-heap-snapshot DIR]
 *                                     [--replicas N [--haproxy]]
 *
 * Creates an mTLS CA, a server certificate (DNS:localhost) and one client certificate per agent
 * (CN = EDGE_ID), starts the server with them (`--max-connections` ≥ agents, its open-file limit
 * raised to the hard limit, the event-loop delay probe loaded), sets the check-in interval over
 * the API, connects the agents evenly over --ramp seconds from P simulator processes (default
 * ceil(agents / 12,500); 1 runs them in this process), waits one interval, then measures for
 * --duration seconds: check-ins per second, check-in latency (heartbeat → ack), server CPU per
 * check-in and per connect, peak RSS per agent (from /proc), the server's event-loop delay, and
 * each simulator process's CPU (they share the machine). Everything runs in bounded time and is
 * removed at the end, also on failure or Ctrl-C; the child simulators end with this process.
 * Exit code 0 whatever the targets say (it is a benchmark); 1 when the run could not be set up;
 * 130 when interrupted.
 *
 * --server-cpu-prof DIR runs the server with --cpu-prof (whole lifetime; the window's
 * CLOCK_MONOTONIC bounds are printed, the profile's timestamps use the same clock;
 * bench/fleet/profile-summary.ts --from/--to summarises that window).
 * --server-heap-snapshot DIR writes a heap snapshot of the server there after the window, with
 * every session still open (bench/fleet/heap-snapshot-summary.ts summarises it).
 *
 * --replicas N runs N `pier server` replicas on one PostgreSQL instead (bench/fleet/cluster-fleet.ts;
 * one process holds at most ~19,900 sessions here): each on its own tunnel port, agent g dialling
 * replica g mod N, or with --haproxy all behind one HAProxy (at most 9,500 agents: two file
 * descriptors per agent). PostgreSQL is started for the run, or a database is made in the one
 * PIER_BENCH_POSTGRES_URL names. The server figures are then the replicas' sum, followed by each
 * replica's and PostgreSQL's (and HAProxy's) CPU.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { numberOption } from "./fleet/options.ts";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startBenchServer } from "./fleet/bench-server.ts";
import { wallNow } from "./fleet/fleet.ts";
import { FleetGroup } from "./fleet/fleet-group.ts";
import { ackGraceMs, startLagProbe, waitForAcks, waitForFleet } from "./fleet/fleet-phases.ts";
import { runClusterFleet } from "./fleet/cluster-fleet.ts";
import { agentsPerBalancer, type ReplicaCluster } from "./fleet/replica-cluster.ts";
import { ServerHeapSnapshots } from "./fleet/heap-snapshot.ts";
import { ReasonCounts } from "./fleet/latency-samples.ts";
import { formatReport, type FleetReport } from "./fleet/report.ts";
import { type ServerProcess, sampleProcess, threadDelta } from "./fleet/server-process.ts";

const usage = `Usage: npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20] [--processes P] [--server-cpu-prof DIR] [--server-heap-snapshot DIR] [--replicas N [--haproxy]]`;
/** Agents per simulator process by default: one process's handshakes and timers stay cheap enough. */
const agentsPerProcess = 12_500;
/** After the ramp, how long stragglers may still connect (with retries) before we measure anyway. */
const connectGraceMs = 30_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Options {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly processes: number;
  readonly serverCpuProfDir?: string;
  readonly serverHeapSnapshotDir?: string;
  /** Replicas on PostgreSQL (bench/fleet/cluster-fleet.ts); absent: one server on SQLite. */
  readonly replicas?: number;
  /** With replicas: all behind one HAProxy rather than each on its own port. */
  readonly haproxy: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string", default: "2000" },
      interval: { type: "string", default: "5" },
      duration: { type: "string", default: "60" },
      ramp: { type: "string", default: "20" },
      processes: { type: "string" },
      "server-cpu-prof": { type: "string" },
      "server-heap-snapshot": { type: "string" },
      replicas: { type: "string" },
      haproxy: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const number = numberOption(usage);
  const agents = number("agents", values.agents, (n) => Number.isInteger(n) && n >= 1 && n <= 60_000, "an integer from 1 to 60000");
  const replicas = values.replicas === undefined ? undefined : number("replicas", values.replicas, (n) => Number.isInteger(n) && n >= 1 && n <= 8, "an integer from 1 to 8");
  if (values.haproxy && (replicas ?? 0) < 2) throw new Error(`--haproxy needs --replicas 2 or more.\n${usage}`);
  if (values.haproxy && agents > agentsPerBalancer) throw new Error(`--haproxy carries at most ${agentsPerBalancer} agents here (HAProxy needs two file descriptors per agent and the hard limit is 20,000), got --agents ${agents}.\n${usage}`);
  if ((values["server-heap-snapshot"] ?? "") !== "" && replicas !== undefined) throw new Error(`--server-heap-snapshot is for one server, not --replicas.\n${usage}`);
  return {
    ...(replicas === undefined ? {} : { replicas }),
    haproxy: values.haproxy,
    agents,
    processes: number("processes", values.processes ?? String(Math.ceil(agents / agentsPerProcess)), (n) => Number.isInteger(n) && n >= 1 && n <= 16 && n <= agents, "an integer from 1 to 16, at most --agents"),
    // The API takes whole seconds (EdgeAgentCheckinInterval).
    intervalSeconds: number("interval", values.interval, (n) => Number.isInteger(n) && n >= 1 && n <= 3600, "an integer from 1 to 3600"),
    durationSeconds: number("duration", values.duration, (n) => n > 0 && n <= 3600, "a number of seconds from 1 to 3600"),
    rampSeconds: number("ramp", values.ramp, (n) => n >= 0 && n <= 3600, "a number of seconds from 0 to 3600"),
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
    ...(values["server-heap-snapshot"] ? { serverHeapSnapshotDir: resolve(values["server-heap-snapshot"]) } : {}),
  };
}

function progress(message: string): void {
  process.stderr.write(`[fleet] ${message}\n`);
}

/** Resources the run owns; released by `cleanUp` however the run ends. */
const owned: { workDir?: string; server?: ServerProcess; cluster?: ReplicaCluster; fleet?: FleetGroup } = {};

async function cleanUp(): Promise<void> {
  await owned.fleet?.stop();
  owned.fleet = undefined;
  await owned.server?.stop();
  await owned.cluster?.stop();
  owned.cluster = undefined;
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  owned.workDir = undefined;
}

async function run(options: Options, signal: AbortSignal): Promise<FleetReport> {
  const intervalMs = options.intervalSeconds * 1000;
  const workDir = mkdtempSync(join(tmpdir(), "pier-fleet-"));
  owned.workDir = workDir;
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  if (options.serverHeapSnapshotDir) mkdirSync(options.serverHeapSnapshotDir, { recursive: true });
  const heap = options.serverHeapSnapshotDir ? new ServerHeapSnapshots(options.serverHeapSnapshotDir, repoRoot) : undefined;
  const serverNodeOptions = [options.serverCpuProfDir && `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}`, heap?.nodeOptions()].filter(Boolean).join(" ");
  const bench = await startBenchServer({
    repoRoot,
    workDir,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    ...(serverNodeOptions ? { serverNodeOptions } : {}),
    ...(heap ? { serverEnv: heap.env() } : {}),
    signal,
    progress,
    onServer: (server) => (owned.server = server),
  });
  const { server, pki } = bench;
  signal.throwIfAborted();

  // Ramp: connect everyone, retrying failures until the deadline.
  const rampMs = options.rampSeconds * 1000;
  const fleet = new FleetGroup(options.processes);
  owned.fleet = fleet;
  const fleetStart = performance.now();
  const connectDeadline = fleetStart + rampMs + connectGraceMs;
  const beforeRamp = sampleProcess(server.pid);
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s from ${options.processes} simulator process${options.processes === 1 ? "" : "es"}`);
  const rampLag = startLagProbe();
  await fleet.start(pki.agents, { port: server.tunnelPort, ca: pki.caPem, timeoutMs: 15_000, welcomeTimeoutMs: 60_000, intervalMs, rampMs, retryUntilWall: wallNow() + rampMs + connectGraceMs });
  await waitForFleet(fleet, options.agents, connectDeadline, signal, progress);
  const rampSeconds = (performance.now() - fleetStart) / 1000;
  const afterRamp = sampleProcess(server.pid);
  const rampLagSummary = rampLag.stop();
  const afterRampSnapshot = await fleet.snapshot();
  const connected = afterRampSnapshot.connected;
  progress(`connected ${connected}/${options.agents} in ${rampSeconds.toFixed(1)} s; warming up for ${options.intervalSeconds} s`);
  if (connected === 0) throw new Error(`No agent could connect. Reasons: ${JSON.stringify(afterRampSnapshot.connectFailures)}\nServer output:\n${server.output()}`);

  // Warm-up: one interval, so every agent has sent a heartbeat on its phase before we count.
  await sleep(intervalMs, undefined, { signal });

  progress(`measuring for ${options.durationSeconds} s`);
  const lag = startLagProbe();
  await bench.loopDelay.mark(server);
  const simulatorsAtStart = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const serverAtStart = sampleProcess(server.pid);
  const cpuAtStart = process.cpuUsage();
  const monotonicStart = process.hrtime.bigint();
  const windowStart = performance.now();
  await fleet.beginWindow("window");
  const connectedAtStart = (await fleet.snapshot()).connected;
  await sleep(options.durationSeconds * 1000, undefined, { signal });
  await fleet.endWindow("window");
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const serverAtEnd = sampleProcess(server.pid);
  const simulatorsAtEnd = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const cpu = process.cpuUsage(cpuAtStart);
  const monotonicEnd = process.hrtime.bigint();
  const loopDelay = await bench.loopDelay.mark(server);
  const lagSummary = lag.stop();
  const connectedAtEnd = (await fleet.snapshot()).connected;
  await waitForAcks(fleet, signal);
  const window = await fleet.windowResult("window");
  const end = await fleet.snapshot();
  if (heap) {
    progress(`writing a heap snapshot of the server (${end.connected} sessions open)`);
    const file = await heap.take(server);
    progress(file ? `heap snapshot: ${file}` : "the server wrote no heap snapshot within 5 minutes");
  }
  if (options.serverCpuProfDir) {
    progress(`window in CLOCK_MONOTONIC µs: ${monotonicStart / 1000n}..${monotonicEnd / 1000n} (profile written to ${options.serverCpuProfDir} when the server exits)`);
  }

  const serverOutput = server.output().trim();
  if (serverOutput) progress(`server printed (last lines):\n${serverOutput.split("\n").slice(-10).join("\n")}`);
  const counts = (entries: [string, number][]) => {
    const reasons = new ReasonCounts();
    for (const [reason, count] of entries) reasons.add(reason, count);
    return reasons;
  };

  return {
    command: `npx node bench/fleet-simulator.ts --agents ${options.agents} --interval ${options.intervalSeconds} --duration ${options.durationSeconds} --ramp ${options.rampSeconds} --processes ${options.processes}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}${options.serverHeapSnapshotDir ? ` --server-heap-snapshot ${options.serverHeapSnapshotDir}` : ""}`,
    environment: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${process.platform}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end of the window`,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    setup: {
      certificatesSeconds: bench.certificatesSeconds,
      serverStartSeconds: bench.serverStartSeconds,
      rampSeconds,
      connected,
      processes: options.processes,
      serverOpenFileLimit: bench.openFileLimit,
      setupTimes: await fleet.setupTimes(),
      handshakeTimes: await fleet.handshakeTimes(),
      resumedHandshakes: end.resumedHandshakes,
      serverCpuSeconds: afterRamp.cpuSeconds - beforeRamp.cpuSeconds,
      simulatorLagP99Ms: rampLagSummary.p99,
      simulatorLagMaxMs: rampLagSummary.max,
      connectFailures: counts(end.connectFailures),
      intervalMismatches: end.intervalMismatches,
    },
    window: {
      warmUpSeconds: options.intervalSeconds,
      seconds: windowSeconds,
      connectedAtStart,
      connectedAtEnd,
      sent: window.sent,
      acked: window.acked,
      latencies: window.latencies,
      lostSessions: counts(end.lostSessions),
    },
    server: {
      cpuSeconds: serverAtEnd.cpuSeconds - serverAtStart.cpuSeconds,
      userSeconds: serverAtEnd.userSeconds - serverAtStart.userSeconds,
      systemSeconds: serverAtEnd.systemSeconds - serverAtStart.systemSeconds,
      threads: threadDelta(serverAtStart, serverAtEnd),
      peakRssBytes: serverAtEnd.peakRssBytes,
      rssBytes: serverAtEnd.rssBytes,
      loopDelay,
    },
    simulator: {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopDelayP99Ms: lagSummary.p99,
      eventLoopDelayMaxMs: lagSummary.max,
      rssBytes: process.memoryUsage.rss(),
    },
    simulatorProcesses: simulatorsAtEnd.map((sample, index) => ({ pid: fleet.pids[index] ?? 0, cpuSeconds: sample.cpuSeconds - (simulatorsAtStart[index]?.cpuSeconds ?? 0), rssBytes: sample.rssBytes })),
  };
}

/** --replicas: the fleet against N replicas on PostgreSQL (bench/fleet/cluster-fleet.ts). */
async function runCluster(options: Options, replicas: number, signal: AbortSignal): Promise<FleetReport> {
  const workDir = mkdtempSync(join(tmpdir(), "pier-fleet-"));
  owned.workDir = workDir;
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  return runClusterFleet(
    {
      repoRoot,
      workDir,
      agents: options.agents,
      replicas,
      balancer: options.haproxy,
      intervalSeconds: options.intervalSeconds,
      durationSeconds: options.durationSeconds,
      rampSeconds: options.rampSeconds,
      processes: options.processes,
      connectGraceMs,
      ...(options.serverCpuProfDir ? { serverNodeOptions: `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` } : {}),
      command: `npx node bench/fleet-simulator.ts --agents ${options.agents} --replicas ${replicas}${options.haproxy ? " --haproxy" : ""} --interval ${options.intervalSeconds} --duration ${options.durationSeconds} --ramp ${options.rampSeconds} --processes ${options.processes}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}`,
      progress,
      own: (resource) => Object.assign(owned, resource),
    },
    signal,
  );
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const controller = new AbortController();
  // Bounded: setup (certificates, server start) + ramp + grace + warm-up + window + ack grace + slack.
  const budgetMs = 120_000 + options.agents * 3 + options.rampSeconds * 1000 + connectGraceMs + (options.intervalSeconds + options.durationSeconds) * 1000 + ackGraceMs + (options.replicas === undefined ? 0 : 90_000);
  const watchdog = setTimeout(() => controller.abort(new Error(`the run exceeded its ${Math.round(budgetMs / 1000)} s budget`)), budgetMs);
  let interrupted = false;
  const onSignal = (name: string) => {
    if (interrupted) {
      // Second Ctrl-C: the exit handler still kills the server and removes the files.
      process.exit(130);
    }
    interrupted = true;
    progress(`${name}: stopping and cleaning up (again to force)`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  // Last resort when the process ends without reaching `finally` (process.exit, a crash).
  process.on("exit", () => {
    owned.fleet?.killNow();
    owned.server?.killNow();
    owned.cluster?.killNow();
    if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  });

  try {
    const report = await (options.replicas === undefined ? run(options, controller.signal) : runCluster(options, options.replicas, controller.signal));
    await owned.fleet?.stop();
    owned.fleet = undefined;
    console.log(formatReport(report));
    return 0;
  } catch (error) {
    const reason = controller.signal.aborted ? (controller.signal.reason as Error) : error;
    console.error(`fleet benchmark failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    return interrupted ? 130 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanUp();
  }
}

process.exitCode = await main();
// Everything is closed by now; a handle left open by a library must not make the run unbounded.
setTimeout(() => process.exit(), 5_000).unref();
