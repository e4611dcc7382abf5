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
 *                          [--server-cpu-prof DIR] [--server-args "FLAGS"] [--replicas N [--haproxy]]
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
 * --server-args "FLAGS" adds `pier server` flags (split at spaces) to both servers, e.g.
 * "--max-concurrent-handshakes 256" (one server only, not with --replicas).
 *
 * --replicas N (bench/fleet/cluster-storm.ts) runs N replicas on one PostgreSQL instead, the
 * fleet through one HAProxy with --haproxy (at most 9,500 agents here) or else agent g straight
 * to replica g mod N, and kills replica-0 alone: its agents come back to a surviving replica or
 * to the restarted one, the others' sessions stay up.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { numberOption } from "./fleet/options.ts";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startBenchServer } from "./fleet/bench-server.ts";
import { wallNow, type Recovery } from "./fleet/fleet.ts";
import { FleetGroup } from "./fleet/fleet-group.ts";
import type { FleetSnapshot } from "./fleet/fleet-parts.ts";
import { LatencySamples, ReasonCounts } from "./fleet/latency-samples.ts";
import { lateness, type LoopDelay } from "./fleet/loop-delay.ts";
import { listening } from "./fleet/port-listening.ts";
import { runClusterStorm } from "./fleet/cluster-storm.ts";
import { agentsPerBalancer, type ReplicaCluster } from "./fleet/replica-cluster.ts";
import { type ServerProcess, sampleProcess } from "./fleet/server-process.ts";

const usage = "Usage: npm run bench:storm -- [--agents 15000] [--interval 5] [--ramp 60] [--baseline 20] [--processes P] [--graceful] [--limit 120] [--after 10] [--server-cpu-prof DIR] [--server-args 'FLAGS'] [--replicas N [--haproxy]]";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Issue 20: every agent back within 30 s of the kill. */
const backWithinMs = 30_000;
/** After the ramp, how long stragglers may still connect before the baseline starts anyway. */
const connectGraceMs = 30_000;
/** How long a SIGTERM-ed server may drain before it is killed. */
const drainLimitMs = 20_000;

interface Options {
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
  /** More `pier server` flags (one server). */
  readonly serverArgs: readonly string[];
  /** Replicas on PostgreSQL, replica-0 killed (bench/fleet/cluster-storm.ts); absent: one server. */
  readonly replicas?: number;
  /** With replicas: the fleet through one HAProxy. */
  readonly haproxy: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string", default: "15000" },
      interval: { type: "string", default: "5" },
      ramp: { type: "string", default: "60" },
      baseline: { type: "string", default: "20" },
      processes: { type: "string" },
      graceful: { type: "boolean", default: false },
      limit: { type: "string", default: "120" },
      after: { type: "string", default: "10" },
      "server-cpu-prof": { type: "string" },
      "server-args": { type: "string", default: "" },
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
  const replicas = values.replicas === undefined ? undefined : number("replicas", values.replicas, (n) => Number.isInteger(n) && n >= 2 && n <= 8, "an integer from 2 to 8");
  if (values.haproxy && replicas === undefined) throw new Error(`--haproxy needs --replicas 2 or more.\n${usage}`);
  if (values.haproxy && agents > agentsPerBalancer) throw new Error(`--haproxy carries at most ${agentsPerBalancer} agents here (HAProxy needs two file descriptors per agent and the hard limit is 20,000), got --agents ${agents}.\n${usage}`);
  return {
    agents,
    ...(replicas === undefined ? {} : { replicas }),
    haproxy: values.haproxy,
    intervalSeconds: number("interval", values.interval, (n) => Number.isInteger(n) && n >= 1 && n <= 3600, "an integer from 1 to 3600"),
    rampSeconds: number("ramp", values.ramp, (n) => n >= 0 && n <= 3600, "a number of seconds from 0 to 3600"),
    baselineSeconds: number("baseline", values.baseline, (n) => n >= 1 && n <= 600, "a number of seconds from 1 to 600"),
    processes: number("processes", values.processes ?? String(Math.ceil(agents / 12_500)), (n) => Number.isInteger(n) && n >= 1 && n <= 16 && n <= agents, "an integer from 1 to 16, at most --agents"),
    graceful: values.graceful,
    limitSeconds: number("limit", values.limit, (n) => n >= 5 && n <= 1800, "a number of seconds from 5 to 1800"),
    afterSeconds: number("after", values.after, (n) => n >= 0 && n <= 600, "a number of seconds from 0 to 600"),
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
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

/** `after − before` of two cumulative reason tables. */
function countsSince(before: readonly [string, number][], after: readonly [string, number][]): ReasonCounts {
  const earlier = new Map(before);
  const counts = new ReasonCounts();
  for (const [reason, count] of after) if (count > (earlier.get(reason) ?? 0)) counts.add(reason, count - (earlier.get(reason) ?? 0));
  return counts;
}

/** Resources the run owns; released however it ends. */
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

const seconds = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : "n/a");
const ms = (value: number) => (Number.isNaN(value) ? "n/a" : value < 10 ? value.toFixed(2) : value.toFixed(1));
const latencyLine = (samples: LatencySamples) => {
  const summary = samples.summary();
  return `p50 ${ms(summary.p50)} ms, p99 ${ms(summary.p99)} ms, max ${ms(summary.max)} ms (n=${summary.count})`;
};
const loopLine = (delay: LoopDelay | undefined) => {
  if (!delay) return "n/a";
  const late = lateness(delay);
  return `late by p50 ${ms(late.p50Ms)} ms, p99 ${ms(late.p99Ms)} ms, max ${ms(late.maxMs)} ms`;
};
const reasonsLine = (counts: ReasonCounts) =>
  counts.total === 0
    ? "none"
    : `${counts.total} (${counts
        .entries()
        .slice(0, 4)
        .map(([reason, count]) => `${count}× ${reason}`)
        .join("; ")})`;

async function run(options: Options, signal: AbortSignal): Promise<string[]> {
  const intervalMs = options.intervalSeconds * 1000;
  const workDir = mkdtempSync(join(tmpdir(), "pier-storm-"));
  owned.workDir = workDir;
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  const bench = await startBenchServer({
    repoRoot,
    workDir,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    ...(options.serverCpuProfDir ? { serverNodeOptions: `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` } : {}),
    serverArgs: options.serverArgs,
    signal,
    progress,
    onServer: (server) => (owned.server = server),
  });
  let server = bench.server;

  // Connect the fleet. Agents retry for the whole run: only the run's own limit stops them.
  const fleet = new FleetGroup(options.processes);
  owned.fleet = fleet;
  const rampMs = options.rampSeconds * 1000;
  const connectDeadline = performance.now() + rampMs + connectGraceMs;
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s from ${options.processes} simulator process${options.processes === 1 ? "" : "es"}`);
  await fleet.start(bench.pki.agents, { port: server.tunnelPort, ca: bench.pki.caPem, timeoutMs: 15_000, welcomeTimeoutMs: 60_000, intervalMs, rampMs, retryUntilWall: wallNow() + 24 * 3_600_000 });
  let snapshot: FleetSnapshot = await fleet.snapshot();
  for (let lastReport = 0; snapshot.connected < options.agents && performance.now() < connectDeadline; snapshot = await fleet.snapshot()) {
    if (performance.now() - lastReport >= 5_000) {
      lastReport = performance.now();
      progress(`connected ${snapshot.connected}/${options.agents}`);
    }
    await sleep(250, undefined, { signal });
  }
  if (snapshot.connected === 0) throw new Error(`No agent could connect: ${JSON.stringify(snapshot.connectFailures.slice(0, 5))}\n${server.output()}`);
  progress(`connected ${snapshot.connected}/${options.agents}; warming up for ${options.intervalSeconds} s, then a ${options.baselineSeconds} s baseline`);
  await sleep(intervalMs, undefined, { signal });

  // Baseline.
  await bench.loopDelay.mark(server);
  const baselineCpu = sampleProcess(server.pid);
  await fleet.beginWindow("baseline");
  await sleep(options.baselineSeconds * 1000, undefined, { signal });
  await fleet.endWindow("baseline");
  const baselineCpuSeconds = sampleProcess(server.pid).cpuSeconds - baselineCpu.cpuSeconds;
  const baselineLoop = await bench.loopDelay.mark(server);

  // The kill, and the restart on the same data and ports.
  await fleet.markSessionsHealthy();
  await fleet.resetReconnectStats();
  const beforeKill = await fleet.snapshot();
  const openAtKill = (await fleet.recovery()).open;
  const connectedAtKill = openAtKill.reduce((sum, open) => sum + open, 0);
  const stormLag = new LatencySamples();
  const killedAt = wallNow();
  server.signal(options.graceful ? "SIGTERM" : "SIGKILL");
  const drain = setTimeout(() => server.signal("SIGKILL"), drainLimitMs);
  await server.exited;
  clearTimeout(drain);
  const exitedAt = wallNow();
  progress(`server ${options.graceful ? "drained and exited" : "killed"} after ${seconds(exitedAt - killedAt)} s; starting it again`);
  server = await server.restart();
  owned.server = server;
  const restarted = server;
  const listeningAt = await listening(restarted.tunnelPort, () => !restarted.running, signal);
  if (Number.isNaN(listeningAt)) throw new Error(`the restarted server exited:\n${restarted.output()}`);
  progress(`listening again ${seconds(listeningAt - killedAt)} s after the kill`);
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
  const stormLoop = await bench.loopDelay.mark(server);
  const afterStorm = await fleet.snapshot();
  const result = backTimes(recovery, killedAt);
  const ofConnected = backTimes(recovery, killedAt, openAtKill);
  const ofConnectedBack = ofConnected.back.summary();

  // After: the fleet back, steady again.
  let afterLatencies: LatencySamples | undefined;
  if (options.afterSeconds > 0) {
    await fleet.beginWindow("after");
    await sleep(options.afterSeconds * 1000, undefined, { signal });
    await fleet.endWindow("after");
    await sleep(Math.min(5_000, intervalMs), undefined, { signal });
    afterLatencies = (await fleet.windowResult("after")).latencies;
  }
  const storm = await fleet.windowResult("storm");
  const baseline = await fleet.windowResult("baseline");
  const afterLoop = await bench.loopDelay.mark(server);

  // Welcomes per second, and the busiest second.
  const perSecond = new Map<number, number>();
  for (const at of recovery.welcomedAt) if (at >= killedAt) perSecond.set(Math.floor((at - killedAt) / 1000), (perSecond.get(Math.floor((at - killedAt) / 1000)) ?? 0) + 1);
  const reconnectSeconds = Math.max(0.001, (stormEndedAt - listeningAt) / 1000);
  const welcomes = afterStorm.reconnect.welcomes;
  const handshakes = afterStorm.reconnect.handshakes;
  const backSummary = result.back.summary();
  const welcomedSummary = result.welcomed.summary();
  const outAt30 = options.agents - result.back.count + result.back.values().filter((at) => at > backWithinMs).length;
  const allBack = result.out === 0;
  const stormSeconds = (stormEndedAt - killedAt) / 1000;
  const restartedLifeSeconds = stormCpu.cpuSeconds;
  const lostAtKill = countsSince(beforeKill.lostSessions, afterStorm.lostSessions);
  const failures = countsSince(beforeKill.connectFailures, afterStorm.connectFailures);
  const refusedWithRetry = new ReasonCounts();
  for (const [code, count] of afterStorm.reconnect.refusedWithRetryAfter) refusedWithRetry.add(code, count);
  const endedByHint = lostAtKill.entries().find(([reason]) => reason === "refused restarting")?.[1] ?? 0;

  return [
    `Pier reconnect storm: ${options.agents} agents, check-in every ${options.intervalSeconds} s, ${options.graceful ? "SIGTERM (graceful restart)" : "kill -9"} and restart on the same data and ports`,
    `  command       npm run bench:storm -- --agents ${options.agents} --interval ${options.intervalSeconds} --ramp ${options.rampSeconds} --baseline ${options.baselineSeconds} --processes ${options.processes} --limit ${options.limitSeconds} --after ${options.afterSeconds}${options.graceful ? " --graceful" : ""}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}${options.serverArgs.length > 0 ? ` --server-args "${options.serverArgs.join(" ")}"` : ""}`,
    `  machine       ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end`,
    "",
    `before       ${connectedAtKill}/${options.agents} connected at the kill; heartbeat → ack ${latencyLine(baseline.latencies)}; server ${((100 * baselineCpuSeconds) / options.baselineSeconds).toFixed(1)} % of one core; event loop ${loopLine(baselineLoop)}`,
    `restart      ${options.graceful ? "SIGTERM → exited" : "kill -9 → exited"} ${seconds(exitedAt - killedAt)} s; kill → listening ${seconds(listeningAt - killedAt)} s`,
    `back         ${allBack ? "all" : `${options.agents - result.out}/${options.agents}`} back (session welcomed, heartbeat acked) ${allBack ? `${seconds(backSummary.max)} s after the kill` : `by the ${options.limitSeconds} s limit`}; all welcomed ${welcomedSummary.count === options.agents ? `after ${seconds(welcomedSummary.max)} s` : `— ${options.agents - welcomedSummary.count} never were`}`,
    `             back after p50 ${seconds(backSummary.p50)} s, p90 ${seconds(backSummary.p90)} s, p99 ${seconds(backSummary.p99)} s (from the kill)`,
    `             still out 30 s after the kill: ${outAt30}`,
    ...(connectedAtKill < options.agents
      ? [
          `             of the ${connectedAtKill} connected at the kill: ${ofConnected.out === 0 ? `all back after ${seconds(ofConnectedBack.max)} s` : `${ofConnected.out} never back`}, p50 ${seconds(ofConnectedBack.p50)} s, p99 ${seconds(ofConnectedBack.p99)} s; still out at 30 s: ${ofConnected.out + ofConnected.back.values().filter((at) => at > backWithinMs).length}`,
        ]
      : []),
    `agents       largest wait before a dial ${seconds(afterStorm.reconnect.largestWaitMs)} s (cap 60 s), highest backoff attempt ${afterStorm.reconnect.largestAttempt}, gave up ${afterStorm.gaveUp}, stopped by the run's deadline ${afterStorm.reconnect.stoppedAtDeadline}`,
    `             dials ${afterStorm.reconnect.dials}, handshakes ${handshakes}, welcomes ${welcomes}; refused with retry-after: ${reasonsLine(refusedWithRetry)}`,
    `             sessions ended at the kill: ${reasonsLine(lostAtKill)}`,
    `             failed dials: ${reasonsLine(failures)}`,
    `rates        ${(handshakes / reconnectSeconds).toFixed(0)} handshakes/s and ${(welcomes / reconnectSeconds).toFixed(0)} hellos welcomed/s from listening to all back (${reconnectSeconds.toFixed(1)} s); busiest second ${Math.max(0, ...perSecond.values())} welcomes`,
    `during       heartbeat → ack of agents already back ${latencyLine(storm.latencies)} (${storm.sent - storm.acked} of ${storm.sent} unanswered)`,
    `             restarted server ${restartedLifeSeconds.toFixed(1)} CPU-s from its start to the end of the storm (${((100 * restartedLifeSeconds) / Math.max(0.001, (stormEndedAt - exitedAt) / 1000)).toFixed(0)} % of one core); RSS ${(stormCpu.rssBytes / 2 ** 20).toFixed(0)} MiB; event loop ${loopLine(stormLoop)}`,
    `             this process's timers late p99 ${ms(stormLag.summary().p99)} ms over the ${stormSeconds.toFixed(1)} s storm`,
    ...(afterLatencies ? [`after        heartbeat → ack ${latencyLine(afterLatencies)}; event loop ${loopLine(afterLoop)}`] : []),
    "",
    "targets (issue 20)",
    `  ${allBack && backSummary.max <= backWithinMs ? "met   " : "missed"}  every agent back within 30 s of the kill (${allBack ? `${seconds(backSummary.max)} s` : `${result.out} still out at ${options.limitSeconds} s`})`,
    `  ${afterStorm.gaveUp === 0 && afterStorm.reconnect.largestWaitMs <= 60_000 ? "met   " : "missed"}  no agent gave up (${afterStorm.gaveUp}) or waited beyond its 60 s cap (largest ${seconds(afterStorm.reconnect.largestWaitMs)} s)`,
    `  ${storm.latencies.summary().p99 < 200 ? "met   " : "missed"}  agents already back see p99 < 200 ms while the rest connect (${ms(storm.latencies.summary().p99)} ms)`,
    ...(options.graceful
      ? [`  ${lostAtKill.total > 0 && endedByHint === lostAtKill.total ? "met   " : "missed"}  every session open at the SIGTERM ended with \`restarting\` and a retry-after (${endedByHint}/${lostAtKill.total})`]
      : []),
  ];
}

/** --replicas: the storm of one replica among N on PostgreSQL (bench/fleet/cluster-storm.ts). */
function runCluster(options: Options, replicas: number, signal: AbortSignal): Promise<string[]> {
  const workDir = mkdtempSync(join(tmpdir(), "pier-storm-"));
  owned.workDir = workDir;
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  return runClusterStorm(
    {
      repoRoot,
      workDir,
      agents: options.agents,
      replicas,
      balancer: options.haproxy,
      intervalSeconds: options.intervalSeconds,
      rampSeconds: options.rampSeconds,
      baselineSeconds: options.baselineSeconds,
      processes: options.processes,
      graceful: options.graceful,
      limitSeconds: options.limitSeconds,
      afterSeconds: options.afterSeconds,
      connectGraceMs,
      ...(options.serverCpuProfDir ? { serverNodeOptions: `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` } : {}),
      command: `npm run bench:storm -- --agents ${options.agents} --replicas ${replicas}${options.haproxy ? " --haproxy" : ""} --interval ${options.intervalSeconds} --ramp ${options.rampSeconds} --baseline ${options.baselineSeconds} --processes ${options.processes} --limit ${options.limitSeconds} --after ${options.afterSeconds}${options.graceful ? " --graceful" : ""}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}`,
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
  const budgetMs = 180_000 + options.agents * 3 + (options.rampSeconds + options.intervalSeconds + options.baselineSeconds + options.limitSeconds + options.afterSeconds) * 1000 + connectGraceMs + drainLimitMs + (options.replicas === undefined ? 0 : 120_000);
  const watchdog = setTimeout(() => controller.abort(new Error(`the run exceeded its ${Math.round(budgetMs / 1000)} s budget`)), budgetMs);
  let interrupted = false;
  const onSignal = (name: string) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${name}: stopping and cleaning up (again to force)`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("exit", () => {
    owned.fleet?.killNow();
    owned.server?.killNow();
    owned.cluster?.killNow();
    if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  });
  try {
    const lines = await (options.replicas === undefined ? run(options, controller.signal) : runCluster(options, options.replicas, controller.signal));
    await owned.fleet?.stop();
    owned.fleet = undefined;
    console.log(lines.join("\n"));
    return 0;
  } catch (error) {
    const reason = controller.signal.aborted ? (controller.signal.reason as Error) : error;
    console.error(`storm benchmark failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    return interrupted ? 130 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanUp();
  }
}

process.exitCode = await main();
setTimeout(() => process.exit(), 5_000).unref();
