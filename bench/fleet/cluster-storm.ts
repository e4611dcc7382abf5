import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { wallNow, type Recovery } from "./fleet.ts";
import { FleetGroup } from "./fleet-group.ts";
import { connectStormFleet, killAndRestart, measureAfter } from "./fleet-phases.ts";
import { LatencySamples } from "./latency-samples.ts";
import { lateness, type LoopDelay } from "./loop-delay.ts";
import { treeCpuSeconds } from "./process-tree.ts";
import { startFleetCluster, type ClusterRunOptions } from "./replica-cluster.ts";
import { ms } from "./report.ts";
import { sampleProcess } from "./server-process.ts";
import { agentsLine, backWithinMs, latencyLine, reasonsLine, restartLine, seconds, stormReasons, stormTargetLines } from "./storm-report.ts";

/** How a --replicas run of bench/storm.ts is set up. */
export interface ClusterStormOptions extends ClusterRunOptions {
  readonly baselineSeconds: number;
  readonly graceful: boolean;
  readonly limitSeconds: number;
  readonly afterSeconds: number;
}

/**
 * Where every agent stands since the kill at `killedAt` (wall ms). An agent whose session ended
 * after the kill is back once a later session was welcomed and its first heartbeat acked (the time
 * of that ack counts); an agent whose session never ended is back all along (its replica lived).
 */
function standing(recovery: Recovery, killedAt: number): { cut: number; back: LatencySamples; welcomed: LatencySamples; out: number } {
  const back = new LatencySamples();
  const welcomed = new LatencySamples();
  let cut = 0;
  let out = 0;
  for (let i = 0; i < recovery.open.length; i++) {
    const lostAt = recovery.lostAt[i] ?? Number.NaN;
    const welcomedAt = recovery.welcomedAt[i] ?? Number.NaN;
    const ackedAt = recovery.ackedAt[i] ?? Number.NaN;
    if (!(lostAt >= killedAt)) {
      if (recovery.open[i] !== 1) out++;
      continue;
    }
    cut++;
    if (!(welcomedAt > lostAt)) {
      out++;
      continue;
    }
    welcomed.add(welcomedAt - killedAt);
    if (ackedAt >= welcomedAt) back.add(ackedAt - killedAt);
    else out++;
  }
  return { cut, back, welcomed, out };
}

const loopLine = (delay: LoopDelay | undefined) => (delay ? `late p99 ${ms(lateness(delay).p99Ms)} ms, max ${ms(lateness(delay).maxMs)} ms` : "n/a");
const sessionsLine = (sessions: Map<string, number> | undefined) => (sessions ? [...sessions].map(([name, count]) => `${name} ${count}`).join(", ") || "none" : "unknown");

/**
 * bench:storm against replicas on one PostgreSQL: the fleet connects (through HAProxy with
 * `balancer`, else agent g straight to replica g mod N), then replica-0 is killed with SIGKILL
 * (SIGTERM with `graceful`) and started again at once on its data and ports. The agents it held
 * come back to a surviving replica or to the restarted one (HAProxy's health check takes it out
 * within about a second and back when it listens); the other replicas' sessions stay up.
 * Measured: who was cut, when each is back (welcomed, then its first heartbeat acked), still out
 * at 30 s, the agents' largest wait and gave-up count, heartbeat latency of every session open
 * meanwhile, where the sessions are after (`edge_sessions`), and each process's CPU.
 */
export async function runClusterStorm(options: ClusterStormOptions, signal: AbortSignal): Promise<string[]> {
  const { progress } = options;
  const intervalMs = options.intervalSeconds * 1000;
  const { pki, cluster } = await startFleetCluster(options, "storm", signal);
  const replicas = cluster.replicas;
  const victim = replicas[0];
  if (!victim) throw new Error("no replica");
  const ports = cluster.agentPorts();
  const cpuOfReplicas = () => replicas.map((replica) => (replica.server.running ? sampleProcess(replica.server.pid).cpuSeconds : Number.NaN));
  const cpuOfSupport = () => ({
    postgres: cluster.postmasterPid === undefined ? Number.NaN : treeCpuSeconds(cluster.postmasterPid),
    balancer: cluster.balancerPids().reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
  });

  const fleet = new FleetGroup(options.processes);
  options.own({ fleet });
  const destination = cluster.balancer ? " through HAProxy" : " to the replicas directly";
  await connectStormFleet(fleet, { ...options, pki, ports, destination, output: () => cluster.output(), progress }, signal);

  // Baseline.
  await Promise.all(replicas.map((replica) => replica.loopDelay.mark(replica.server)));
  const baselineCpu = cpuOfReplicas();
  await fleet.beginWindow("baseline");
  await sleep(options.baselineSeconds * 1000, undefined, { signal });
  await fleet.endWindow("baseline");
  const baselineCpuSeconds = cpuOfReplicas().map((cpu, index) => cpu - (baselineCpu[index] ?? 0));
  let sessionsBefore: Map<string, number> | undefined;
  try {
    sessionsBefore = cluster.sessionsPerReplica();
  } catch {
    sessionsBefore = undefined;
  }

  // The kill of replica-0, and its restart on the same data and ports.
  await fleet.markSessionsHealthy();
  await fleet.resetReconnectStats();
  const beforeKill = await fleet.snapshot();
  const connectedAtKill = beforeKill.connected;
  const survivorsAtKill = cpuOfReplicas();
  const supportAtKill = cpuOfSupport();
  // From the kill on: the survivors' sessions and those back, while the rest reconnect.
  const restart = await killAndRestart(
    victim.server,
    { graceful: options.graceful, name: victim.name, onSignalled: () => fleet.beginWindow("storm"), onRestarted: (restarted) => (victim.server = restarted) },
    progress,
    signal,
  );
  const { killedAt, restarted } = restart;
  await restarted.ready(60_000, signal);

  // Until every agent is back, or the limit.
  const limitAt = killedAt + options.limitSeconds * 1000;
  let recovery = await fleet.recovery();
  let lastReport = 0;
  for (let now = standing(recovery, killedAt); now.out > 0 && wallNow() < limitAt; now = standing(recovery, killedAt)) {
    await sleep(250, undefined, { signal });
    if (performance.now() - lastReport >= 2_000) {
      lastReport = performance.now();
      progress(`${seconds(wallNow() - killedAt)} s after the kill: ${now.cut} sessions cut, ${now.back.count} back, ${now.out} out`);
    }
    recovery = await fleet.recovery();
  }
  const stormEndedAt = wallNow();
  await fleet.endWindow("storm");
  const stormLoops = await Promise.all(replicas.map((replica) => replica.loopDelay.mark(replica.server)));
  const replicasAfterStorm = cpuOfReplicas();
  const supportAfterStorm = cpuOfSupport();
  const afterStorm = await fleet.snapshot();
  let sessionsAfter: Map<string, number> | undefined;
  try {
    sessionsAfter = cluster.sessionsPerReplica();
  } catch {
    sessionsAfter = undefined;
  }
  const result = standing(recovery, killedAt);

  const afterLatencies = await measureAfter(fleet, options.afterSeconds, intervalMs, signal);
  const storm = await fleet.windowResult("storm");
  const baseline = await fleet.windowResult("baseline");

  const stormSeconds = Math.max(0.001, (stormEndedAt - killedAt) / 1000);
  const backSummary = result.back.summary();
  const allBack = result.out === 0;
  const outAt30 = result.out + result.back.values().filter((at) => at > backWithinMs).length;
  const { lostAtKill, failures, refusedWithRetry } = stormReasons(beforeKill, afterStorm);
  const percent = (cpuSeconds: number, over: number) => (Number.isNaN(cpuSeconds) ? "n/a" : `${((100 * cpuSeconds) / over).toFixed(0)} %`);
  const reconnectSeconds = Math.max(0.001, backSummary.max / 1000);
  const stormP99 = storm.latencies.summary().p99;

  return [
    `Pier reconnect storm on ${options.replicas} replicas (one PostgreSQL${cluster.balancer ? ", behind HAProxy: TCP, PROXY v2, round robin, health check every 500 ms" : ", agents dialling their replica directly"}): ${options.agents} agents, check-in every ${options.intervalSeconds} s, ${options.graceful ? "SIGTERM" : "kill -9"} of ${victim.name} and its restart on the same data and ports`,
    `  command       ${options.command}`,
    `  machine       ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end`,
    "",
    `before       ${connectedAtKill}/${options.agents} connected at the kill; sessions (edge_sessions) ${sessionsLine(sessionsBefore)}; heartbeat → ack ${latencyLine(baseline.latencies)}; replicas ${baselineCpuSeconds.map((cpu, index) => `${replicas[index]?.name} ${percent(cpu, options.baselineSeconds)}`).join(", ")} of one core`,
    restartLine(restart, options.graceful),
    `cut          ${result.cut} sessions ended after the kill: ${reasonsLine(lostAtKill)}`,
    `back         ${allBack ? `all ${result.cut} back (session welcomed, heartbeat acked) ${seconds(backSummary.max)} s after the kill` : `${result.back.count}/${result.cut} back, ${result.out} agents out at the ${options.limitSeconds} s limit`}; p50 ${seconds(backSummary.p50)} s, p90 ${seconds(backSummary.p90)} s, p99 ${seconds(backSummary.p99)} s (from the kill)`,
    `             still out 30 s after the kill: ${outAt30}; sessions after (edge_sessions) ${sessionsLine(sessionsAfter)}`,
    agentsLine(afterStorm),
    `             dials ${afterStorm.reconnect.dials}, handshakes ${afterStorm.reconnect.handshakes}, welcomes ${afterStorm.reconnect.welcomes} (${(afterStorm.reconnect.welcomes / reconnectSeconds).toFixed(0)}/s from the kill to the last back); refused with retry-after: ${reasonsLine(refusedWithRetry)}`,
    `             failed dials: ${reasonsLine(failures)}`,
    `during       heartbeat → ack from the kill to all back (the survivors' sessions and those back) ${latencyLine(storm.latencies)} (${storm.sent - storm.acked} of ${storm.sent} unanswered)`,
    `             CPU from the kill to all back (${stormSeconds.toFixed(1)} s): ${replicas.map((replica, index) => `${replica.name}${index === 0 ? " (restarted, its whole life)" : ""} ${percent(index === 0 ? (replicasAfterStorm[0] ?? Number.NaN) : (replicasAfterStorm[index] ?? Number.NaN) - (survivorsAtKill[index] ?? Number.NaN), stormSeconds)}, event loop ${loopLine(stormLoops[index])}`).join("; ")}`,
    `             PostgreSQL ${percent(supportAfterStorm.postgres - supportAtKill.postgres, stormSeconds)}${cluster.balancer ? `, HAProxy ${percent(supportAfterStorm.balancer - supportAtKill.balancer, stormSeconds)}` : ""} of one core`,
    ...(afterLatencies ? [`after        heartbeat → ack ${latencyLine(afterLatencies)}`] : []),
    "",
    ...stormTargetLines(result.back, result.out, options.limitSeconds, afterStorm),
    `  ${stormP99 < 200 ? "met   " : "missed"}  sessions open during the storm see p99 < 200 ms (${ms(stormP99)} ms)`,
  ];
}
