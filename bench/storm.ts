/**
 * Benchmark: the reconnect storm after a server restart (issue 20). N simulated agents (bench/fleet,
 * the real agent's reconnect policy: backoff, `retryAfterSeconds`, `restarting` hints) hold
 * sessions to a real `pier server`; after a baseline, the server is killed with SIGKILL (or sent
 * SIGTERM with --graceful) and started again at once on the same data and ports, as systemd or
 * Docker would. Measured: kill → listening, time until every agent is back (session welcomed,
 * then its first heartbeat acked), agents still out 30 s after the kill, heartbeat latency of the
 * agents already back while the rest reconnect (and after), the largest wait any agent used,
 * agents that gave up, refusals with a retry-after, handshakes/s and hellos/s, and the new
 * server's CPU and event-loop delay during the storm.
 *
 *   npm run bench:storm -- [--agents 15000] [--interval 5] [--ramp 60] [--baseline 20]
 *                          [--processes P] [--graceful] [--limit 120] [--after 10]
 *                          [--server-cpu-prof DIR] [--server-node-options "FLAGS"] [--server-args "FLAGS"] [--replicas N [--haproxy]]
 *
 * Before the kill, every session counts as healthy (a real fleet's have been up for hours), so
 * the agents' backoff starts over. --limit bounds the wait for the fleet to come back; agents
 * keep retrying until then (an agent never gives up; the deadline only ends the benchmark).
 * Everything is removed at the end, also on failure or Ctrl-C; child simulators end with this
 * process. Exit code 0 whatever the figures; 1 when the run could not be set up; 130 when
 * interrupted.
 *
 * --server-cpu-prof DIR runs the server with --cpu-prof --cpu-prof-dir=DIR, the restarted one
 * too: the killed server writes no profile (SIGKILL), the restarted one writes the storm's when
 * it is stopped at the end (a --graceful run also gets the first server's, written as it exits).
 * --server-node-options "FLAGS" runs the server with these Node/V8 flags as well (each --name or
 * --name=value), e.g. "--max-semi-space-size=4" to see what a smaller young generation costs.
 * --server-args "FLAGS" adds `pier server` flags (split at spaces) to both servers, e.g.
 * "--max-concurrent-handshakes 256" (one server only, not with --replicas).
 *
 * --replicas N (bench/fleet/cluster-storm.ts) runs N replicas on one PostgreSQL instead, the
 * fleet through one HAProxy with --haproxy (at most 9,500 agents here) or else agent g straight
 * to replica g mod N, and kills replica-0 alone: its agents come back to a surviving replica or
 * to the restarted one, the others' sessions stay up.
 */
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startBenchServer } from "./fleet/bench-server.ts";
import { wallNow, type Recovery } from "./fleet/fleet.ts";
import { FleetGroup } from "./fleet/fleet-group.ts";
import { connectStormFleet, drainLimitMs, killAndRestart, measureAfter } from "./fleet/fleet-phases.ts";
import { FleetResources, runFleetBenchmark } from "./fleet/fleet-resources.ts";
import { LatencySamples } from "./fleet/latency-samples.ts";
import { lateness, type LoopDelay } from "./fleet/loop-delay.ts";
import { damonNote } from "./fleet/machine-notes.ts";
import { benchmarkOptions, fleetFlags, nodeOptionsFlag, serverNodeOptions, simulatorProcesses, stringOptions } from "./fleet/options.ts";
import { runClusterStorm } from "./fleet/cluster-storm.ts";
import { clusterOptions, type ClusterChoice } from "./fleet/replica-cluster.ts";
import { ms } from "./fleet/report.ts";
import { sampleProcess } from "./fleet/server-process.ts";
import { agentsLine, backWithinMs, latencyLine, percentilesLine, reasonsLine, restartLine, seconds, stormReasons, stormTargetLines } from "./fleet/storm-report.ts";

const usage = "Usage: npm run bench:storm -- [--agents 15000] [--interval 5] [--ramp 60] [--baseline 20] [--processes P] [--graceful] [--limit 120] [--after 10] [--server-cpu-prof DIR] [--server-node-options 'FLAGS'] [--server-args 'FLAGS'] [--replicas N [--haproxy]]";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** After the ramp, how long stragglers may still connect before the baseline starts anyway. */
const connectGraceMs = 30_000;

/** The command line; --replicas runs bench/fleet/cluster-storm.ts. */
interface Options extends ClusterChoice {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly rampSeconds: number;
  readonly baselineSeconds: number;
  readonly processes: number;
  readonly graceful: boolean;
  readonly limitSeconds: number;
  readonly afterSeconds: number;
  /** Where the server processes write their CPU profiles (--cpu-prof-dir); none without. */
  readonly serverCpuProfDir?: string;
  /** `--server-node-options`: Node/V8 flags for the server. */
  readonly serverNodeFlags?: string;
  /** More `pier server` flags (one server). */
  readonly serverArgs: readonly string[];
}

function parseOptions(argv: string[]): Options {
  const { values, number, integer, seconds } = benchmarkOptions(argv, usage, {
    ...fleetFlags,
    ...stringOptions({ agents: "15000", interval: "5", ramp: "60", baseline: "20", limit: "120", after: "10", "server-args": "" }),
    graceful: { type: "boolean", default: false },
  });
  const agents = integer("agents", values.agents, 1, 60_000);
  return {
    agents,
    ...clusterOptions(number, values, agents, 2, usage),
    intervalSeconds: integer("interval", values.interval, 1, 3600),
    rampSeconds: seconds("ramp", values.ramp, 0, 3600),
    baselineSeconds: seconds("baseline", values.baseline, 1, 600),
    processes: simulatorProcesses(number, values.processes, agents),
    graceful: values.graceful,
    limitSeconds: seconds("limit", values.limit, 5, 1800),
    afterSeconds: seconds("after", values.after, 0, 600),
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
    ...nodeOptionsFlag(values["server-node-options"], usage),
    serverArgs: values["server-args"].split(" ").filter(Boolean),
  };
}

function progress(message: string): void {
  process.stderr.write(`[storm] ${message}\n`);
}

/**
 * Agents back since `since` (wall ms): welcomed after it, and acked after that welcome; only
 * the agents `among` marks, when given.
 */
function backTimes(recovery: Recovery, since: number, among?: Uint8Array): { welcomed: LatencySamples; back: LatencySamples; out: number } {
  const welcomed = new LatencySamples();
  const back = new LatencySamples();
  let out = 0;
  for (let i = 0; i < recovery.welcomedAt.length; i++) {
    if (among && among[i] !== 1) continue;
    const welcomedAt = recovery.welcomedAt[i] ?? Number.NaN;
    const ackedAt = recovery.ackedAt[i] ?? Number.NaN;
    if (!(welcomedAt >= since)) {
      out++;
      continue;
    }
    welcomed.add(welcomedAt - since);
    if (ackedAt >= welcomedAt) back.add(ackedAt - since);
    else out++;
  }
  return { welcomed, back, out };
}

/** What the run owns; released however it ends. */
const resources = new FleetResources();

const loopLine = (delay: LoopDelay | undefined) => {
  if (!delay) return "n/a";
  const late = lateness(delay);
  return `late by p50 ${ms(late.p50Ms)} ms, p99 ${ms(late.p99Ms)} ms, max ${ms(late.maxMs)} ms`;
};
async function run(options: Options, signal: AbortSignal): Promise<string[]> {
  const workDir = resources.makeWorkDir("pier-storm-", options.serverCpuProfDir);
  const bench = await startBenchServer({
    repoRoot,
    workDir,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    ...serverNodeOptions(options),
    serverArgs: options.serverArgs,
    signal,
    progress,
    onServer: (server) => (resources.server = server),
  });
  const fleet = new FleetGroup(options.processes);
  resources.fleet = fleet;
  await connectStormFleet(fleet, { ...options, pki: bench.pki, ports: [bench.server.tunnelPort], connectGraceMs, destination: "", output: () => bench.server.output(), progress }, signal);

  // Baseline.
  await bench.loopDelay.mark(bench.server);
  const baselineCpu = sampleProcess(bench.server.pid);
  await fleet.beginWindow("baseline");
  await sleep(options.baselineSeconds * 1000, undefined, { signal });
  await fleet.endWindow("baseline");
  const baselineCpuSeconds = sampleProcess(bench.server.pid).cpuSeconds - baselineCpu.cpuSeconds;
  const baselineLoop = await bench.loopDelay.mark(bench.server);

  // The kill, and the restart on the same data and ports.
  await fleet.markSessionsHealthy();
  await fleet.resetReconnectStats();
  const beforeKill = await fleet.snapshot();
  const openAtKill = (await fleet.recovery()).open;
  const connectedAtKill = openAtKill.reduce((sum, open) => sum + open, 0);
  const stormLag = new LatencySamples();
  const simulatorCpuAtKill = simulatorCpuSeconds(fleet);
  const restart = await killAndRestart(bench.server, { graceful: options.graceful, name: "server", onRestarted: (restarted) => (resources.server = restarted) }, progress, signal);
  const { killedAt, restarted: server } = restart;
  // Sessions open from here on are new ones: their heartbeats are the "already back" latency.
  await fleet.beginWindow("storm");
  await server.ready(30_000, signal);

  // Until every agent is back, or the limit.
  const limitAt = killedAt + options.limitSeconds * 1000;
  let recovery = await fleet.recovery();
  let lastReport = 0;
  for (let back = backTimes(recovery, killedAt); back.out > 0 && wallNow() < limitAt; back = backTimes(recovery, killedAt)) {
    const lagStart = performance.now();
    await sleep(250, undefined, { signal });
    stormLag.add(Math.max(0, performance.now() - lagStart - 250));
    if (performance.now() - lastReport >= 2_000) {
      lastReport = performance.now();
      progress(`${seconds(wallNow() - killedAt)} s after the kill: ${options.agents - back.out}/${options.agents} back (welcomed ${back.welcomed.count})`);
    }
    recovery = await fleet.recovery();
  }
  const stormEndedAt = wallNow();
  await fleet.endWindow("storm");
  const stormCpu = sampleProcess(server.pid);
  const stormSimulatorCpu = simulatorCpuSeconds(fleet) - simulatorCpuAtKill;
  const stormLoop = await bench.loopDelay.mark(server);
  const afterStorm = await fleet.snapshot();
  const result = backTimes(recovery, killedAt);
  const ofConnected = backTimes(recovery, killedAt, openAtKill);
  const ofConnectedBack = ofConnected.back.summary();

  // After: the fleet back, steady again.
  const afterLatencies = await measureAfter(fleet, options.afterSeconds, options.intervalSeconds * 1000, signal);
  const storm = await fleet.windowResult("storm");
  const baseline = await fleet.windowResult("baseline");
  const afterLoop = await bench.loopDelay.mark(server);

  // Welcomes per second, and the busiest second.
  const perSecond = new Map<number, number>();
  for (const at of recovery.welcomedAt) if (at >= killedAt) perSecond.set(Math.floor((at - killedAt) / 1000), (perSecond.get(Math.floor((at - killedAt) / 1000)) ?? 0) + 1);
  const reconnectSeconds = Math.max(0.001, (stormEndedAt - restart.listeningAt) / 1000);
  const welcomes = afterStorm.reconnect.welcomes;
  const handshakes = afterStorm.reconnect.handshakes;
  const backSummary = result.back.summary();
  const welcomedSummary = result.welcomed.summary();
  const outAt30 = options.agents - result.back.count + result.back.values().filter((at) => at > backWithinMs).length;
  const allBack = result.out === 0;
  const stormSeconds = (stormEndedAt - killedAt) / 1000;
  const restartedLifeSeconds = stormCpu.cpuSeconds;
  const { lostAtKill, failures, refusedWithRetry } = stormReasons(beforeKill, afterStorm);
  const endedByHint = lostAtKill.entries().find(([reason]) => reason === "refused restarting")?.[1] ?? 0;

  const kernelNote = damonNote();
  return [
    `Pier reconnect storm: ${options.agents} agents, check-in every ${options.intervalSeconds} s, ${options.graceful ? "SIGTERM (graceful restart)" : "kill -9"} and restart on the same data and ports`,
    `  command       npm run bench:storm -- --agents ${options.agents} --interval ${options.intervalSeconds} --ramp ${options.rampSeconds} --baseline ${options.baselineSeconds} --processes ${options.processes} --limit ${options.limitSeconds} --after ${options.afterSeconds}${options.graceful ? " --graceful" : ""}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}${options.serverNodeFlags ? ` --server-node-options "${options.serverNodeFlags}"` : ""}${options.serverArgs.length > 0 ? ` --server-args "${options.serverArgs.join(" ")}"` : ""}`,
    `  machine       ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end`,
    ...(kernelNote === undefined ? [] : [`  kernel        ${kernelNote}`]),
    "",
    `before       ${connectedAtKill}/${options.agents} connected at the kill; heartbeat → ack ${latencyLine(baseline.latencies)}; server ${((100 * baselineCpuSeconds) / options.baselineSeconds).toFixed(1)} % of one core; event loop ${loopLine(baselineLoop)}`,
    restartLine(restart, options.graceful),
    `back         ${allBack ? "all" : `${options.agents - result.out}/${options.agents}`} back (session welcomed, heartbeat acked) ${allBack ? `${seconds(backSummary.max)} s after the kill` : `by the ${options.limitSeconds} s limit`}; all welcomed ${welcomedSummary.count === options.agents ? `after ${seconds(welcomedSummary.max)} s` : `— ${options.agents - welcomedSummary.count} never were`}`,
    `             back after p50 ${seconds(backSummary.p50)} s, p90 ${seconds(backSummary.p90)} s, p99 ${seconds(backSummary.p99)} s (from the kill)`,
    `             still out 30 s after the kill: ${outAt30}`,
    ...(connectedAtKill < options.agents
      ? [
          `             of the ${connectedAtKill} connected at the kill: ${ofConnected.out === 0 ? `all back after ${seconds(ofConnectedBack.max)} s` : `${ofConnected.out} never back`}, p50 ${seconds(ofConnectedBack.p50)} s, p99 ${seconds(ofConnectedBack.p99)} s; still out at 30 s: ${ofConnected.out + ofConnected.back.values().filter((at) => at > backWithinMs).length}`,
        ]
      : []),
    agentsLine(afterStorm),
    `             dials ${afterStorm.reconnect.dials}, handshakes ${handshakes} (${afterStorm.resumedHandshakes - beforeKill.resumedHandshakes} of the welcomed resumed a TLS session), welcomes ${welcomes}; refused with retry-after: ${reasonsLine(refusedWithRetry)}`,
    `             sessions ended at the kill: ${reasonsLine(lostAtKill)}`,
    `             failed dials: ${reasonsLine(failures)}`,
    `rates        ${(handshakes / reconnectSeconds).toFixed(0)} handshakes/s and ${(welcomes / reconnectSeconds).toFixed(0)} hellos welcomed/s from listening to all back (${reconnectSeconds.toFixed(1)} s); busiest second ${Math.max(0, ...perSecond.values())} welcomes`,
    `during       heartbeat → ack of agents already back ${latencyLine(storm.latencies)} (${storm.sent - storm.acked} of ${storm.sent} unanswered)`,
    `             restarted server ${restartedLifeSeconds.toFixed(1)} CPU-s from its start to the end of the storm (${((100 * restartedLifeSeconds) / Math.max(0.001, (stormEndedAt - restart.exitedAt) / 1000)).toFixed(0)} % of one core); RSS ${(stormCpu.rssBytes / 2 ** 20).toFixed(0)} MiB; event loop ${loopLine(stormLoop)}`,
    `             simulators ${stormSimulatorCpu.toFixed(1)} CPU-s (${((100 * stormSimulatorCpu) / stormSeconds).toFixed(0)} % of one core, ${fleet.pids.length} process(es)), their event loops late by ${percentilesLine(storm.simulatorLoopLate)}; this process's timers late p99 ${ms(stormLag.summary().p99)} ms over the ${stormSeconds.toFixed(1)} s storm`,
    ...(afterLatencies ? [`after        heartbeat → ack ${latencyLine(afterLatencies)}; event loop ${loopLine(afterLoop)}`] : []),
    "",
    ...stormTargetLines(result.back, result.out, options.limitSeconds, afterStorm),
    `  ${storm.latencies.summary().p99 < 200 ? "met   " : "missed"}  agents already back see p99 < 200 ms while the rest connect (${ms(storm.latencies.summary().p99)} ms)`,
    ...(options.graceful
      ? [`  ${lostAtKill.total > 0 && endedByHint === lostAtKill.total ? "met   " : "missed"}  every session open at the SIGTERM ended with \`restarting\` and a retry-after (${endedByHint}/${lostAtKill.total})`]
      : []),
  ];
}

/** --replicas: the storm of one replica among N on PostgreSQL (bench/fleet/cluster-storm.ts). */
function runCluster(options: Options, replicas: number, signal: AbortSignal): Promise<string[]> {
  return runClusterStorm(
    {
      ...options,
      repoRoot,
      workDir: resources.makeWorkDir("pier-storm-", options.serverCpuProfDir),
      replicas,
      balancer: options.haproxy,
      connectGraceMs,
      ...serverNodeOptions(options),
      command: `npm run bench:storm -- --agents ${options.agents} --replicas ${replicas}${options.haproxy ? " --haproxy" : ""} --interval ${options.intervalSeconds} --ramp ${options.rampSeconds} --baseline ${options.baselineSeconds} --processes ${options.processes} --limit ${options.limitSeconds} --after ${options.afterSeconds}${options.graceful ? " --graceful" : ""}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}`,
      progress,
      own: resources.own,
    },
    signal,
  );
}

process.exitCode = await runFleetBenchmark(resources, {
  name: "storm benchmark",
  parse: () => parseOptions(process.argv.slice(2)),
  budgetMs: (options) => 180_000 + options.agents * 3 + (options.rampSeconds + options.intervalSeconds + options.baselineSeconds + options.limitSeconds + options.afterSeconds) * 1000 + connectGraceMs + drainLimitMs + (options.replicas === undefined ? 0 : 120_000),
  run: (options, signal) => (options.replicas === undefined ? run(options, signal) : runCluster(options, options.replicas, signal)),
  progress,
});
setTimeout(() => process.exit(), 5_000).unref();

/** CPU seconds the simulator processes (this one in one-process mode) have used so far. */
function simulatorCpuSeconds(fleet: FleetGroup): number {
  return fleet.pids.reduce((sum, pid) => sum + sampleProcess(pid).cpuSeconds, 0);
}
