/**
 * Benchmark: a fleet of simulated edge agents against a real `pier server` process, over real
 * mutual TLS on 127.0.0.1 (each agent from its own loopback address), speaking the session
 * protocol (docs/protocol.md).
 *
 *   npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20]
 *                                     [--processes P] [--server-cpu-prof DIR] [--server-node-options "FLAGS"] [--server-heap-snapshot DIR]
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
 * --server-node-options "FLAGS" runs the server with these Node/V8 flags as well (each --name or
 * --name=value), e.g. "--max-semi-space-size=4" to see what a smaller young generation costs.
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
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startBenchServer } from "./fleet/bench-server.ts";
import { FleetGroup } from "./fleet/fleet-group.ts";
import { ackGraceMs, measureFleetWindow, rampFleet } from "./fleet/fleet-phases.ts";
import { FleetResources, runFleetBenchmark } from "./fleet/fleet-resources.ts";
import { runBareFleet } from "./fleet/bare-fleet.ts";
import { runClusterFleet } from "./fleet/cluster-fleet.ts";
import { clusterOptions, type ClusterChoice } from "./fleet/replica-cluster.ts";
import { ServerHeapSnapshots } from "./fleet/heap-snapshot.ts";
import { benchmarkOptions, fleetFlags, nodeOptionsFlag, serverNodeOptions, simulatorProcesses, stringOptions } from "./fleet/options.ts";
import { fleetReport, formatReport, type FleetReport } from "./fleet/report.ts";
import { sampleProcess } from "./fleet/server-process.ts";

const usage = `Usage: npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20] [--processes P] [--server-cpu-prof DIR] [--server-node-options "FLAGS"] [--server-heap-snapshot DIR] [--replicas N [--haproxy]] [--bare-node]`;
/** After the ramp, how long stragglers may still connect (with retries) before we measure anyway. */
const connectGraceMs = 30_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The command line; --replicas runs bench/fleet/cluster-fleet.ts. */
interface Options extends ClusterChoice {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly processes: number;
  readonly serverCpuProfDir?: string;
  /** `--server-node-options`: Node/V8 flags for the server. */
  readonly serverNodeFlags?: string;
  readonly serverHeapSnapshotDir?: string;
  /** Run the fleet against bench/fleet/bare-edge-server.ts, Node's floor, instead of Pier. */
  readonly bareNode: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values, number, integer, seconds } = benchmarkOptions(argv, usage, {
    ...fleetFlags,
    ...stringOptions({ agents: "2000", interval: "5", duration: "60", ramp: "20" }),
    "server-heap-snapshot": { type: "string" },
    "bare-node": { type: "boolean", default: false },
  });
  const agents = integer("agents", values.agents, 1, 60_000);
  const cluster = clusterOptions(number, values, agents, 1, usage);
  if ((values["server-heap-snapshot"] ?? "") !== "" && cluster.replicas !== undefined) throw new Error(`--server-heap-snapshot is for one server, not --replicas.\n${usage}`);
  const bareNode = values["bare-node"] === true;
  if (bareNode && (cluster.replicas !== undefined || (values["server-heap-snapshot"] ?? "") !== "")) throw new Error(`--bare-node runs Node's floor server alone: without --replicas or --server-heap-snapshot.\n${usage}`);
  return {
    ...cluster,
    agents,
    processes: simulatorProcesses(number, values.processes, agents),
    // The API takes whole seconds (EdgeAgentCheckinInterval).
    intervalSeconds: integer("interval", values.interval, 1, 3600),
    durationSeconds: number("duration", values.duration, (n) => n > 0 && n <= 3600, "a number of seconds from 1 to 3600"),
    rampSeconds: seconds("ramp", values.ramp, 0, 3600),
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
    ...nodeOptionsFlag(values["server-node-options"], usage),
    ...(values["server-heap-snapshot"] ? { serverHeapSnapshotDir: resolve(values["server-heap-snapshot"]) } : {}),
    bareNode,
  };
}

/** The run's command line, as the report prints it. */
function commandLine(options: Options): string {
  const flags = [
    `--agents ${options.agents}`,
    ...(options.replicas === undefined ? [] : [`--replicas ${options.replicas}${options.haproxy ? " --haproxy" : ""}`]),
    `--interval ${options.intervalSeconds} --duration ${options.durationSeconds} --ramp ${options.rampSeconds} --processes ${options.processes}`,
    ...(options.serverCpuProfDir ? [`--server-cpu-prof ${options.serverCpuProfDir}`] : []),
    ...(options.serverNodeFlags ? [`--server-node-options "${options.serverNodeFlags}"`] : []),
    ...(options.serverHeapSnapshotDir ? [`--server-heap-snapshot ${options.serverHeapSnapshotDir}`] : []),
    ...(options.bareNode ? ["--bare-node"] : []),
  ];
  return `npx node bench/fleet-simulator.ts ${flags.join(" ")}`;
}

function progress(message: string): void {
  process.stderr.write(`[fleet] ${message}\n`);
}

/** Resources the run owns; released however the run ends. */
const resources = new FleetResources();

async function run(options: Options, signal: AbortSignal): Promise<FleetReport> {
  const workDir = resources.makeWorkDir("pier-fleet-", options.serverCpuProfDir);
  if (options.serverHeapSnapshotDir) mkdirSync(options.serverHeapSnapshotDir, { recursive: true });
  const heap = options.serverHeapSnapshotDir ? new ServerHeapSnapshots(options.serverHeapSnapshotDir, repoRoot) : undefined;
  const nodeOptions = [serverNodeOptions(options).serverNodeOptions, heap?.nodeOptions()].filter(Boolean).join(" ");
  const bench = await startBenchServer({
    repoRoot,
    workDir,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    ...(nodeOptions ? { serverNodeOptions: nodeOptions } : {}),
    ...(heap ? { serverEnv: heap.env() } : {}),
    signal,
    progress,
    onServer: (server) => (resources.server = server),
  });
  const { server, pki } = bench;
  signal.throwIfAborted();

  const fleet = new FleetGroup(options.processes);
  resources.fleet = fleet;
  const ramp = await rampFleet(
    fleet,
    { ...options, pki, ports: [server.tunnelPort], connectGraceMs, destination: "", serverCpuSeconds: () => sampleProcess(server.pid).cpuSeconds, output: () => `Server output:\n${server.output()}`, progress },
    signal,
  );
  const window = await measureFleetWindow(fleet, options.durationSeconds, { sample: () => sampleProcess(server.pid), markLoops: () => bench.loopDelay.mark(server) }, progress, signal);
  if (heap) {
    progress(`writing a heap snapshot of the server (${window.end.connected} sessions open)`);
    const file = await heap.take(server);
    progress(file ? `heap snapshot: ${file}` : "the server wrote no heap snapshot within 5 minutes");
  }
  if (options.serverCpuProfDir) {
    progress(`window in CLOCK_MONOTONIC µs: ${window.monotonic.start / 1000n}..${window.monotonic.end / 1000n} (profile written to ${options.serverCpuProfDir} when the server exits)`);
  }
  const serverOutput = server.output().trim();
  if (serverOutput) progress(`server printed (last lines):\n${serverOutput.split("\n").slice(-10).join("\n")}`);

  return fleetReport({
    command: commandLine(options),
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    processes: options.processes,
    certificatesSeconds: bench.certificatesSeconds,
    serverStartSeconds: bench.serverStartSeconds,
    serverOpenFileLimit: bench.openFileLimit,
    ramp,
    window,
    server: { atStart: window.server.atStart, atEnd: window.server.atEnd, loopDelay: window.server.loops },
  });
}

/** --bare-node: the fleet against Node's floor server (bench/fleet/bare-fleet.ts). */
function runBare(options: Options, signal: AbortSignal): Promise<FleetReport> {
  return runBareFleet(
    {
      ...options,
      repoRoot,
      workDir: resources.makeWorkDir("pier-fleet-", options.serverCpuProfDir),
      connectGraceMs,
      ...serverNodeOptions(options),
      command: commandLine(options),
      progress,
      own: resources.own,
      makeFleet: () => new FleetGroup(options.processes),
    },
    signal,
  );
}

/** --replicas: the fleet against N replicas on PostgreSQL (bench/fleet/cluster-fleet.ts). */
function runCluster(options: Options, replicas: number, signal: AbortSignal): Promise<FleetReport> {
  return runClusterFleet(
    {
      ...options,
      repoRoot,
      workDir: resources.makeWorkDir("pier-fleet-", options.serverCpuProfDir),
      replicas,
      balancer: options.haproxy,
      connectGraceMs,
      ...serverNodeOptions(options),
      command: commandLine(options),
      progress,
      own: resources.own,
    },
    signal,
  );
}

process.exitCode = await runFleetBenchmark(resources, {
  name: "fleet benchmark",
  parse: () => parseOptions(process.argv.slice(2)),
  // Bounded: setup (certificates, server start) + ramp + grace + warm-up + window + ack grace + slack.
  budgetMs: (options) => 120_000 + options.agents * 3 + options.rampSeconds * 1000 + connectGraceMs + (options.intervalSeconds + options.durationSeconds) * 1000 + ackGraceMs + (options.replicas === undefined ? 0 : 90_000),
  run: async (options, signal) => [formatReport(await (options.bareNode ? runBare(options, signal) : options.replicas === undefined ? run(options, signal) : runCluster(options, options.replicas, signal)))],
  progress,
});
// Everything is closed by now; a handle left open by a library must not make the run unbounded.
setTimeout(() => process.exit(), 5_000).unref();
