import { FleetGroup } from "./fleet-group.ts";
import { measureFleetWindow, rampFleet } from "./fleet-phases.ts";
import type { LoopDelay } from "./loop-delay.ts";
import { lateness } from "./loop-delay.ts";
import { treeCpuSeconds } from "./process-tree.ts";
import { startFleetCluster, type ClusterRunOptions } from "./replica-cluster.ts";
import { fleetReport, type FleetReport } from "./report.ts";
import { sampleProcess, type ProcessSample } from "./server-process.ts";

/** How a --replicas run of bench/fleet-simulator.ts is set up. */
export interface ClusterFleetOptions extends ClusterRunOptions {
  readonly durationSeconds: number;
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
  const { pki, cluster, certificatesSeconds, serverStartSeconds } = await startFleetCluster(options, "bench", signal);
  const replicas = cluster.replicas;
  const sampleReplicas = () => replicas.map((replica) => sampleProcess(replica.server.pid));
  const sampleSupport = () => ({
    postgres: cluster.postmasterPid === undefined ? Number.NaN : treeCpuSeconds(cluster.postmasterPid),
    balancer: cluster.balancerPids().reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
  });
  const ports = cluster.agentPorts();
  const direct = ports.length > 1;

  const fleet = new FleetGroup(options.processes);
  options.own({ fleet });
  const ramp = await rampFleet(
    fleet,
    {
      ...options,
      pki,
      ports,
      destination: ` to ${direct ? `${ports.length} replicas directly` : "HAProxy"}`,
      serverCpuSeconds: () => sumSamples(sampleReplicas()).cpuSeconds,
      output: () => cluster.output(),
      progress,
    },
    signal,
  );
  const window = await measureFleetWindow(
    fleet,
    options.durationSeconds,
    { sample: () => ({ replicas: sampleReplicas(), support: sampleSupport() }), markLoops: () => Promise.all(replicas.map((replica) => replica.loopDelay.mark(replica.server))) },
    progress,
    signal,
  );
  let sessions = new Map<string, number>();
  try {
    sessions = cluster.sessionsPerReplica();
  } catch (error) {
    progress(`could not count edge_sessions: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const replica of replicas) {
    const output = replica.server.output().trim();
    if (output) progress(`${replica.name} printed (last lines):\n${output.split("\n").slice(-10).join("\n")}`);
  }
  const { atStart, atEnd, loops } = window.server;

  return fleetReport({
    command: options.command,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    processes: options.processes,
    certificatesSeconds,
    serverStartSeconds,
    serverOpenFileLimit: Math.min(...replicas.map((replica) => replica.server.openFileLimit() ?? Number.NaN)),
    ramp,
    window,
    server: { atStart: sumSamples(atStart.replicas), atEnd: sumSamples(atEnd.replicas), loopDelay: worstLoop(loops) },
    cluster: {
      layout: direct ? "each on its own tunnel port, agent g dialling replica g mod N" : "behind one HAProxy (TCP, PROXY v2, round robin)",
      replicas: replicas.map((replica, index) => ({
        name: replica.name,
        connected: direct ? window.end.connectedByGroup[index] : undefined,
        sessions: sessions.get(replica.name),
        latencies: direct ? window.result.groupLatencies[index] : undefined,
        cpuSeconds: (atEnd.replicas[index]?.cpuSeconds ?? 0) - (atStart.replicas[index]?.cpuSeconds ?? 0),
        peakRssBytes: atEnd.replicas[index]?.peakRssBytes ?? 0,
        rssBytes: atEnd.replicas[index]?.rssBytes ?? 0,
        loopDelay: loops[index],
      })),
      postgresCpuSeconds: atEnd.support.postgres - atStart.support.postgres,
      balancerCpuSeconds: cluster.balancer ? atEnd.support.balancer - atStart.support.balancer : undefined,
    },
  });
}
