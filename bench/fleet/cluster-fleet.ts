import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { wallNow } from "./fleet.ts";
import { FleetGroup } from "./fleet-group.ts";
import { startLagProbe, waitForAcks, waitForFleet } from "./fleet-phases.ts";
import { createFleetPki } from "./fleet-pki.ts";
import { ReasonCounts } from "./latency-samples.ts";
import type { LoopDelay } from "./loop-delay.ts";
import { lateness } from "./loop-delay.ts";
import { treeCpuSeconds } from "./process-tree.ts";
import { startReplicaCluster, type ReplicaCluster } from "./replica-cluster.ts";
import type { FleetReport } from "./report.ts";
import { sampleProcess, threadDelta, type ProcessSample } from "./server-process.ts";

/** How a --replicas run of bench/fleet-simulator.ts is set up. */
export interface ClusterFleetOptions {
  readonly repoRoot: string;
  readonly workDir: string;
  readonly agents: number;
  readonly replicas: number;
  readonly balancer: boolean;
  readonly intervalSeconds: number;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly processes: number;
  readonly connectGraceMs: number;
  readonly serverNodeOptions?: string;
  /** The command line to print. */
  readonly command: string;
  readonly progress: (message: string) => void;
  /** Gets each resource as soon as it exists, so the caller can release it however the run ends. */
  readonly own: (resource: { cluster?: ReplicaCluster; fleet?: FleetGroup }) => void;
}

/** The replicas' samples added up: one "server" of the report. */
function sumSamples(samples: readonly ProcessSample[]): ProcessSample {
  const threadSeconds = new Map<string, number>();
  for (const sample of samples) for (const [name, seconds] of sample.threadSeconds) threadSeconds.set(name, (threadSeconds.get(name) ?? 0) + seconds);
  const sum = (pick: (sample: ProcessSample) => number) => samples.reduce((total, sample) => total + pick(sample), 0);
  return {
    cpuSeconds: sum((s) => s.cpuSeconds),
    userSeconds: sum((s) => s.userSeconds),
    systemSeconds: sum((s) => s.systemSeconds),
    threadSeconds,
    peakRssBytes: sum((s) => s.peakRssBytes),
    rssBytes: sum((s) => s.rssBytes),
  };
}

/** The replica whose event loop was latest at p99 (what the 5 ms target is checked against). */
function worstLoop(delays: readonly (LoopDelay | undefined)[]): LoopDelay | undefined {
  let worst: LoopDelay | undefined;
  for (const delay of delays) if (delay && (!worst || lateness(delay).p99Ms > lateness(worst).p99Ms)) worst = delay;
  return worst;
}

/**
 * bench:fleet against several replicas on one PostgreSQL on this machine (one `pier server`
 * holds at most ~19,900 sessions here: the open-file limit): each replica on its own tunnel port,
 * agent g dialling replica g mod N, or all behind one HAProxy (`balancer`). Same phases and
 * report as the one-server run (ramp, one interval of warm-up, the window, acks), the server
 * figures summed over the replicas, plus each replica's sessions, p99 (direct only: the
 * simulator knows whom each agent dials), CPU, RSS and event loop, and PostgreSQL's and
 * HAProxy's CPU.
 */
export async function runClusterFleet(options: ClusterFleetOptions, signal: AbortSignal): Promise<FleetReport> {
  const { progress } = options;
  const intervalMs = options.intervalSeconds * 1000;
  progress(`issuing ${options.agents} client certificates`);
  let started = performance.now();
  const pki = await createFleetPki(join(options.workDir, "pki"), options.agents, `bench-${randomBytes(3).toString("hex")}`);
  const certificatesSeconds = (performance.now() - started) / 1000;
  signal.throwIfAborted();

  started = performance.now();
  const cluster = await startReplicaCluster({
    repoRoot: options.repoRoot,
    workDir: options.workDir,
    pki,
    replicas: options.replicas,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    balancer: options.balancer,
    ...(options.serverNodeOptions ? { serverNodeOptions: options.serverNodeOptions } : {}),
    signal,
    progress,
    onCluster: (cluster) => options.own({ cluster }),
  });
  const serverStartSeconds = (performance.now() - started) / 1000;
  const replicas = cluster.replicas;
  const sampleReplicas = () => replicas.map((replica) => sampleProcess(replica.server.pid));
  const sampleSupport = () => ({
    postgres: cluster.postmasterPid === undefined ? Number.NaN : treeCpuSeconds(cluster.postmasterPid),
    balancer: cluster.balancerPids().reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
  });
  const markLoops = () => Promise.all(replicas.map((replica) => replica.loopDelay.mark(replica.server)));
  const ports = cluster.agentPorts();
  const direct = ports.length > 1;

  const rampMs = options.rampSeconds * 1000;
  const fleet = new FleetGroup(options.processes);
  options.own({ fleet });
  const fleetStart = performance.now();
  const connectDeadline = fleetStart + rampMs + options.connectGraceMs;
  const beforeRamp = sumSamples(sampleReplicas());
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s from ${options.processes} simulator process${options.processes === 1 ? "" : "es"} to ${direct ? `${ports.length} replicas directly` : "HAProxy"}`);
  const rampLag = startLagProbe();
  await fleet.start(pki.agents, {
    port: ports[0] ?? 0,
    ...(direct ? { ports } : {}),
    ca: pki.caPem,
    timeoutMs: 15_000,
    welcomeTimeoutMs: 60_000,
    intervalMs,
    rampMs,
    retryUntilWall: wallNow() + rampMs + options.connectGraceMs,
  });
  await waitForFleet(fleet, options.agents, connectDeadline, signal, progress);
  const rampSeconds = (performance.now() - fleetStart) / 1000;
  const afterRamp = sumSamples(sampleReplicas());
  const rampLagSummary = rampLag.stop();
  const afterRampSnapshot = await fleet.snapshot();
  const connected = afterRampSnapshot.connected;
  progress(`connected ${connected}/${options.agents} in ${rampSeconds.toFixed(1)} s; warming up for ${options.intervalSeconds} s`);
  if (connected === 0) throw new Error(`No agent could connect. Reasons: ${JSON.stringify(afterRampSnapshot.connectFailures)}\n${cluster.output()}`);
  await sleep(intervalMs, undefined, { signal });

  progress(`measuring for ${options.durationSeconds} s`);
  const lag = startLagProbe();
  await markLoops();
  const simulatorsAtStart = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const replicasAtStart = sampleReplicas();
  const supportAtStart = sampleSupport();
  const cpuAtStart = process.cpuUsage();
  const windowStart = performance.now();
  await fleet.beginWindow("window");
  const connectedAtStart = (await fleet.snapshot()).connected;
  await sleep(options.durationSeconds * 1000, undefined, { signal });
  await fleet.endWindow("window");
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const replicasAtEnd = sampleReplicas();
  const supportAtEnd = sampleSupport();
  const simulatorsAtEnd = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const cpu = process.cpuUsage(cpuAtStart);
  const loops = await markLoops();
  const lagSummary = lag.stop();
  const atEnd = await fleet.snapshot();
  let sessions = new Map<string, number>();
  try {
    sessions = cluster.sessionsPerReplica();
  } catch (error) {
    progress(`could not count edge_sessions: ${error instanceof Error ? error.message : String(error)}`);
  }
  await waitForAcks(fleet, signal);
  const window = await fleet.windowResult("window");
  const end = await fleet.snapshot();
  for (const replica of replicas) {
    const output = replica.server.output().trim();
    if (output) progress(`${replica.name} printed (last lines):\n${output.split("\n").slice(-10).join("\n")}`);
  }
  const counts = (entries: [string, number][]) => {
    const reasons = new ReasonCounts();
    for (const [reason, count] of entries) reasons.add(reason, count);
    return reasons;
  };
  const serverAtStart = sumSamples(replicasAtStart);
  const serverAtEnd = sumSamples(replicasAtEnd);

  return {
    command: options.command,
    environment: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${process.platform}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end of the window`,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    setup: {
      certificatesSeconds,
      serverStartSeconds,
      rampSeconds,
      connected,
      processes: options.processes,
      serverOpenFileLimit: Math.min(...replicas.map((replica) => replica.server.openFileLimit() ?? Number.NaN)),
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
      connectedAtEnd: atEnd.connected,
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
      loopDelay: worstLoop(loops),
    },
    simulator: {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopDelayP99Ms: lagSummary.p99,
      eventLoopDelayMaxMs: lagSummary.max,
      rssBytes: process.memoryUsage.rss(),
    },
    simulatorProcesses: simulatorsAtEnd.map((sample, index) => ({ pid: fleet.pids[index] ?? 0, cpuSeconds: sample.cpuSeconds - (simulatorsAtStart[index]?.cpuSeconds ?? 0), rssBytes: sample.rssBytes })),
    cluster: {
      layout: direct ? "each on its own tunnel port, agent g dialling replica g mod N" : "behind one HAProxy (TCP, PROXY v2, round robin)",
      replicas: replicas.map((replica, index) => ({
        name: replica.name,
        connected: direct ? atEnd.connectedByGroup[index] : undefined,
        sessions: sessions.get(replica.name),
        latencies: direct ? window.groupLatencies[index] : undefined,
        cpuSeconds: (replicasAtEnd[index]?.cpuSeconds ?? 0) - (replicasAtStart[index]?.cpuSeconds ?? 0),
        peakRssBytes: replicasAtEnd[index]?.peakRssBytes ?? 0,
        rssBytes: replicasAtEnd[index]?.rssBytes ?? 0,
        loopDelay: loops[index],
      })),
      postgresCpuSeconds: supportAtEnd.postgres - supportAtStart.postgres,
      balancerCpuSeconds: cluster.balancer ? supportAtEnd.balancer - supportAtStart.balancer : undefined,
    },
  };
}
