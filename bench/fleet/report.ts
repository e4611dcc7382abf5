import { cpus, loadavg } from "node:os";
import type { FleetRamp, FleetWindow } from "./fleet-phases.ts";
import { ReasonCounts, type LatencySamples } from "./latency-samples.ts";
import { lateness, type LoopDelay } from "./loop-delay.ts";
import { damonNote } from "./machine-notes.ts";
import { threadDelta, type ProcessSample } from "./server-process.ts";

/** Everything a run measured, for `formatReport`. */
export interface FleetReport {
  /** What was measured: "Pier", or the floor of a --bare-node run. */
  readonly subject: string;
  readonly command: string;
  readonly environment: string;
  /** A kernel facility known to disturb the figures (`damonNote`), when it runs. */
  readonly kernelNote?: string;
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly setup: {
    readonly certificatesSeconds: number;
    readonly serverStartSeconds: number;
    /** Fleet start → last agent connected (or the connect deadline). */
    readonly rampSeconds: number;
    readonly connected: number;
    /** Simulator processes the fleet ran in (1: the benchmark's own). */
    readonly processes: number;
    /** The server's limit on open files (one per session), when /proc told it. */
    readonly serverOpenFileLimit: number | undefined;
    readonly setupTimes: LatencySamples;
    /** Connect → TLS handshake done, of the same connects. */
    readonly handshakeTimes: LatencySamples;
    readonly resumedHandshakes: number;
    /** The server's CPU over the ramp: connects, and the check-ins answered meanwhile. */
    readonly serverCpuSeconds: number;
    /** Check-ins (heartbeats) acked during the ramp. */
    readonly checkInsAcked: number;
    /** How late the simulator's timers fired during the ramp (its own handshakes load it). */
    readonly simulatorLagP99Ms: number;
    readonly simulatorLagMaxMs: number;
    readonly connectFailures: ReasonCounts;
    readonly intervalMismatches: number;
  };
  readonly window: {
    readonly warmUpSeconds: number;
    readonly seconds: number;
    readonly connectedAtStart: number;
    readonly connectedAtEnd: number;
    readonly sent: number;
    readonly acked: number;
    readonly latencies: LatencySamples;
    readonly lostSessions: ReasonCounts;
  };
  readonly server: {
    readonly cpuSeconds: number;
    readonly userSeconds: number;
    readonly systemSeconds: number;
    /** CPU seconds per thread name over the window, largest first. */
    readonly threads: readonly [string, number][];
    readonly peakRssBytes: number;
    readonly rssBytes: number;
    /** Event-loop delay over the window (loop-delay-probe.ts), when the probe answered. */
    readonly loopDelay: LoopDelay | undefined;
  };
  /** The benchmark process: its CPU over the window, its timers' lateness, its RSS. */
  readonly simulator: { readonly cpuSeconds: number; readonly eventLoopDelayP99Ms: number; readonly eventLoopDelayMaxMs: number; readonly rssBytes: number; readonly agentLoopsLate: { readonly p99: number; readonly max: number } };
  /** Each child simulator process over the window (empty in one-process mode). */
  readonly simulatorProcesses: readonly { readonly pid: number; readonly cpuSeconds: number; readonly rssBytes: number }[];
  /** With --replicas: `server` is the sum over the replicas (its loop delay the worst one's); each replica here. */
  readonly cluster?: ClusterReport;
}

/** A run on several replicas (bench/fleet/replica-cluster.ts): each replica, and what they share. */
export interface ClusterReport {
  /** "each replica on its own tunnel port" or "behind one HAProxy". */
  readonly layout: string;
  readonly replicas: readonly {
    readonly name: string;
    /** Sessions the simulator holds to it (agents dial it directly); undefined behind a balancer. */
    readonly connected: number | undefined;
    /** Its rows in the session directory (`edge_sessions`) at the end of the window. */
    readonly sessions: number | undefined;
    /** Check-ins acked in the window and their latency (agents dial it directly), else undefined. */
    readonly latencies: LatencySamples | undefined;
    readonly cpuSeconds: number;
    readonly peakRssBytes: number;
    readonly rssBytes: number;
    readonly loopDelay: LoopDelay | undefined;
  }[];
  /** PostgreSQL (postmaster and backends) over the window; NaN when it is not this run's. */
  readonly postgresCpuSeconds: number;
  /** HAProxy over the window; undefined without a balancer. */
  readonly balancerCpuSeconds: number | undefined;
}

/** What `fleetReport` assembles: a run's set-up, its ramp and its window (bench/fleet/fleet-phases.ts). */
export interface FleetRun {
  /** What was measured; "Pier" when absent. */
  readonly subject?: string;
  readonly command: string;
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly processes: number;
  readonly certificatesSeconds: number;
  readonly serverStartSeconds: number;
  readonly serverOpenFileLimit: number | undefined;
  readonly ramp: FleetRamp;
  readonly window: FleetWindow<unknown, unknown>;
  /** The server at the window's ends (with --replicas, the replicas' samples summed; the worst loop). */
  readonly server: { readonly atStart: ProcessSample; readonly atEnd: ProcessSample; readonly loopDelay: LoopDelay | undefined };
  readonly cluster?: ClusterReport;
}

function reasonCounts(entries: readonly [string, number][]): ReasonCounts {
  const counts = new ReasonCounts();
  for (const [reason, count] of entries) counts.add(reason, count);
  return counts;
}

/** The report of a run of bench/fleet-simulator.ts (one server, or with --replicas several). */
export function fleetReport(run: FleetRun): FleetReport {
  const { ramp, window, server } = run;
  const kernelNote = damonNote();
  return {
    subject: run.subject ?? "Pier",
    command: run.command,
    environment: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${process.platform}; load average ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) at the end of the window`,
    ...(kernelNote === undefined ? {} : { kernelNote }),
    agents: run.agents,
    intervalSeconds: run.intervalSeconds,
    setup: {
      certificatesSeconds: run.certificatesSeconds,
      serverStartSeconds: run.serverStartSeconds,
      rampSeconds: ramp.seconds,
      connected: ramp.connected,
      processes: run.processes,
      serverOpenFileLimit: run.serverOpenFileLimit,
      setupTimes: window.setupTimes,
      handshakeTimes: window.handshakeTimes,
      resumedHandshakes: window.end.resumedHandshakes,
      serverCpuSeconds: ramp.serverCpuSeconds,
      checkInsAcked: ramp.checkInsAcked,
      simulatorLagP99Ms: ramp.simulatorLag.p99,
      simulatorLagMaxMs: ramp.simulatorLag.max,
      connectFailures: reasonCounts(window.end.connectFailures),
      intervalMismatches: window.end.intervalMismatches,
    },
    window: {
      warmUpSeconds: run.intervalSeconds,
      seconds: window.seconds,
      connectedAtStart: window.connectedAtStart,
      connectedAtEnd: window.connectedAtEnd,
      sent: window.result.sent,
      acked: window.result.acked,
      latencies: window.result.latencies,
      lostSessions: reasonCounts(window.end.lostSessions),
    },
    server: {
      cpuSeconds: server.atEnd.cpuSeconds - server.atStart.cpuSeconds,
      userSeconds: server.atEnd.userSeconds - server.atStart.userSeconds,
      systemSeconds: server.atEnd.systemSeconds - server.atStart.systemSeconds,
      threads: threadDelta(server.atStart, server.atEnd),
      peakRssBytes: server.atEnd.peakRssBytes,
      rssBytes: server.atEnd.rssBytes,
      loopDelay: server.loopDelay,
    },
    simulator: {
      cpuSeconds: window.simulator.cpuSeconds,
      eventLoopDelayP99Ms: window.simulator.lag.p99,
      eventLoopDelayMaxMs: window.simulator.lag.max,
      rssBytes: process.memoryUsage.rss(),
      agentLoopsLate: window.result.simulatorLoopLate.summary(),
    },
    simulatorProcesses: window.simulatorProcesses,
    ...(run.cluster ? { cluster: run.cluster } : {}),
  };
}

/** Issue 20's targets: at 15,000 agents, and beyond 20,000 (its 50,000-agent run). */
export function targetsFor(agents: number): { readonly label: string; readonly p99Ms: number; readonly serverCpuPercent: number; readonly rssKibPerAgent?: number; readonly noneUnanswered: boolean; readonly loopDelayP99Ms: number } {
  return agents > 20_000
    ? { label: "issue 20, 50,000 agents at 5 s", p99Ms: 100, serverCpuPercent: 100, noneUnanswered: false, loopDelayP99Ms: 5 }
    : { label: "issue 20, 15,000 agents at 5 s", p99Ms: 25, serverCpuPercent: 20, rssKibPerAgent: 100, noneUnanswered: true, loopDelayP99Ms: 5 };
}

/** Portainer's published sizing: 4 CPUs for 15,000 agents checking in every 5 s. */
const portainerCpuMicrosecondsPerCheckIn = (4 * 1e6) / (15_000 / 5);

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
/** Milliseconds with two decimals below 10, one above; "n/a" for NaN. */
export const ms = (value: number): string => (Number.isNaN(value) ? "n/a" : value < 10 ? value.toFixed(2) : value.toFixed(1));
const percentOfCore = (cpuSeconds: number, seconds: number) => (seconds > 0 ? (100 * cpuSeconds) / seconds : Number.NaN);

function reasons(counts: ReasonCounts, indent: string): string[] {
  return counts.entries().map(([reason, count]) => `${indent}${String(count).padStart(6)} × ${reason}`);
}

/** The verdicts on the targets, also used for the summary line. */
export function verdicts(report: FleetReport): { label: string; pass: boolean }[] {
  const targets = targetsFor(report.agents);
  const cpu = percentOfCore(report.server.cpuSeconds, report.window.seconds);
  const p99 = report.window.latencies.summary().p99;
  const unanswered = report.window.sent - report.window.acked;
  const rssPerAgent = report.server.peakRssBytes / 1024 / Math.max(1, report.window.connectedAtEnd);
  const loop = report.server.loopDelay ? lateness(report.server.loopDelay).p99Ms : Number.NaN;
  return [
    { label: `connected ${report.window.connectedAtEnd}/${report.agents} at the end of the window`, pass: report.window.connectedAtEnd === report.agents },
    { label: `p99 check-in latency ${ms(p99)} ms < ${targets.p99Ms} ms`, pass: p99 < targets.p99Ms },
    { label: `server CPU ${cpu.toFixed(1)} % of one core < ${targets.serverCpuPercent} %`, pass: cpu < targets.serverCpuPercent },
    ...(targets.rssKibPerAgent === undefined ? [] : [{ label: `server peak RSS ${rssPerAgent.toFixed(0)} KiB per agent < ${targets.rssKibPerAgent} KiB`, pass: rssPerAgent < targets.rssKibPerAgent }]),
    ...(targets.noneUnanswered ? [{ label: `unanswered check-ins ${unanswered} = 0`, pass: unanswered === 0 }] : []),
    { label: `server event loop late by p99 ${ms(loop)} ms ≤ ${targets.loopDelayP99Ms} ms (heartbeat flush never blocks longer)`, pass: loop <= targets.loopDelayP99Ms },
  ];
}

/** The window's server CPU per acked check-in, µs (NaN without acks). */
function cpuMicrosecondsPerCheckIn(report: FleetReport): number {
  return report.window.acked > 0 ? (1e6 * report.server.cpuSeconds) / report.window.acked : Number.NaN;
}

/**
 * Issue 20's connect cost (≤ 2 ms of server CPU per new agent), estimated: the ramp's server CPU
 * minus its check-ins at the window's CPU per check-in, per connect. The window's figure also
 * carries the server's idle work (timers, GC), so this leans low where check-ins are many.
 */
export function netConnectCost(report: FleetReport): { msPerConnect: number; checkIns: number; microsecondsPerCheckIn: number } {
  const { setup } = report;
  const microsecondsPerCheckIn = cpuMicrosecondsPerCheckIn(report);
  const netCpuSeconds = setup.serverCpuSeconds - (setup.checkInsAcked * microsecondsPerCheckIn) / 1e6;
  return { msPerConnect: setup.connected > 0 ? (1000 * netCpuSeconds) / setup.connected : Number.NaN, checkIns: setup.checkInsAcked, microsecondsPerCheckIn };
}

/** Where the server's RSS is at the window's end: the V8 heap, its external memory, the rest (native). */
function memoryLines(memory: LoopDelay["memory"], agents: number): string[] {
  if (!memory) return [];
  const perAgent = (bytes: number) => kib(bytes / Math.max(1, agents));
  const native = memory.rss - memory.heapTotal - memory.external;
  return [
    `    of it               V8 heap ${mib(memory.heapTotal)} = ${perAgent(memory.heapTotal)} per agent (${mib(memory.heapUsed)} = ${perAgent(memory.heapUsed)} in use); external ${mib(memory.external)} = ${perAgent(memory.external)}; the rest (OpenSSL, nghttp2, code) ${mib(native)} = ${perAgent(native)}`,
  ];
}

/** The one-line comparison with Portainer's published sizing, per check-in. */
export function portainerLine(report: FleetReport): string {
  const cpu = percentOfCore(report.server.cpuSeconds, report.window.seconds);
  const perCheckIn = cpuMicrosecondsPerCheckIn(report);
  const ratio = portainerCpuMicrosecondsPerCheckIn / perCheckIn;
  return `Portainer publishes 4 CPUs for 15,000 agents at 5 s; this run: ${cpu.toFixed(1)} % of one core for ${report.window.connectedAtEnd} agents at ${report.intervalSeconds} s (≈ ${Number.isFinite(ratio) ? ratio.toFixed(0) : "n/a"}× less CPU per agent at the same check-in rate: ${Number.isFinite(perCheckIn) ? perCheckIn.toFixed(0) : "n/a"} µs per check-in against ${portainerCpuMicrosecondsPerCheckIn.toFixed(0)} µs)`;
}

function loopLine(delay: LoopDelay | undefined): string {
  if (!delay) return "n/a (the probe did not answer)";
  const late = lateness(delay);
  const gc = delay.gc ? `; GC paused it ${delay.gc.count} times, ${ms(delay.gc.totalMs)} ms in all, longest ${ms(delay.gc.maxMs)} ms (major ${delay.gc.majorCount}, longest ${ms(delay.gc.majorMaxMs)} ms)` : "";
  return `late by p50 ${ms(late.p50Ms)} ms, p99 ${ms(late.p99Ms)} ms, max ${ms(late.maxMs)} ms (${delay.count} ticks of ${delay.resolutionMs} ms; intervals p99 ${ms(delay.p99Ms)} ms)${gc}`;
}

/** The replicas' lines of a --replicas run. */
function clusterLines(cluster: ClusterReport, seconds: number): string[] {
  const percent = (cpuSeconds: number) => `${percentOfCore(cpuSeconds, seconds).toFixed(1)} %`;
  return [
    `replicas (${cluster.replicas.length} on one PostgreSQL, ${cluster.layout}; the server lines above sum them)`,
    ...cluster.replicas.map((replica) => {
      const latency = replica.latencies?.summary();
      const sessions = replica.connected ?? replica.sessions ?? 0;
      return `  ${replica.name.padEnd(10)}  ${replica.connected === undefined ? "" : `connected ${replica.connected}, `}edge_sessions ${replica.sessions ?? "n/a"}; ${latency ? `p99 ${ms(latency.p99)} ms (${latency.count} acked); ` : ""}CPU ${percent(replica.cpuSeconds)} of one core; peak RSS ${mib(replica.peakRssBytes)} = ${kib(replica.peakRssBytes / Math.max(1, sessions))} per agent; event loop ${replica.loopDelay ? `late p99 ${ms(lateness(replica.loopDelay).p99Ms)} ms` : "n/a"}`;
    }),
    `  PostgreSQL  ${Number.isNaN(cluster.postgresCpuSeconds) ? "n/a (not started by this run)" : `${percent(cluster.postgresCpuSeconds)} of one core (postmaster and backends)`}`,
    ...(cluster.balancerCpuSeconds === undefined ? [] : [`  HAProxy     ${percent(cluster.balancerCpuSeconds)} of one core`]),
    ...(Number.isNaN(cluster.postgresCpuSeconds) ? [] : [`  replicas + PostgreSQL${cluster.balancerCpuSeconds === undefined ? "" : " + HAProxy"}: ${percent(cluster.replicas.reduce((sum, replica) => sum + replica.cpuSeconds, 0) + cluster.postgresCpuSeconds + (cluster.balancerCpuSeconds ?? 0))} of one core`]),
  ];
}

function totalSimulatorCpu(report: FleetReport): number {
  return report.simulator.cpuSeconds + report.simulatorProcesses.reduce((sum, child) => sum + child.cpuSeconds, 0);
}

/** The table printed at the end of a run. */
export function formatReport(report: FleetReport): string {
  const { setup, window, server, simulator } = report;
  const connect = setup.setupTimes.summary();
  const handshake = setup.handshakeTimes.summary();
  const latency = window.latencies.summary();
  const expectedRate = window.connectedAtStart / report.intervalSeconds;
  const rate = window.seconds > 0 ? window.acked / window.seconds : 0;
  const connectCost = netConnectCost(report);
  const lines = [
    `${report.subject} fleet benchmark: ${report.agents} agents, check-in every ${report.intervalSeconds} s, mutual TLS + HTTP/2 session`,
    `  command       ${report.command}`,
    `  machine       ${report.environment}`,
    ...(report.kernelNote ? [`  kernel        ${report.kernelNote}`] : []),
    "",
    "setup",
    `  certificates          ${report.agents} client + 1 server, ${setup.certificatesSeconds.toFixed(1)} s; server up in ${setup.serverStartSeconds.toFixed(1)} s`,
    `  connected             ${setup.connected}/${report.agents} in ${setup.rampSeconds.toFixed(1)} s (${setup.processes} simulator process${setup.processes === 1 ? "" : "es"}; server open-file limit ${setup.serverOpenFileLimit ?? "unknown"})`,
    `  connect → welcome     p50 ${ms(connect.p50)} ms, p99 ${ms(connect.p99)} ms, max ${ms(connect.max)} ms (${setup.resumedHandshakes} resumed)`,
    `    of it, TLS done     p50 ${ms(handshake.p50)} ms, p99 ${ms(handshake.p99)} ms, max ${ms(handshake.max)} ms (TCP connect + TLS handshake, queue included)`,
    `  server CPU, ramp      ${setup.serverCpuSeconds.toFixed(2)} s (${setup.connected > 0 ? ((1000 * setup.serverCpuSeconds) / setup.connected).toFixed(2) : "n/a"} ms per connect, incl. heartbeats meanwhile)`,
    `    net of check-ins    ≈ ${Number.isFinite(connectCost.msPerConnect) ? connectCost.msPerConnect.toFixed(2) : "n/a"} ms per connect (estimate: ramp CPU net of ${connectCost.checkIns} check-ins at ${Number.isFinite(connectCost.microsecondsPerCheckIn) ? connectCost.microsecondsPerCheckIn.toFixed(0) : "n/a"} µs each, the window's CPU per check-in; issue 20: ≤ 2 ms)`,
    `  simulator, ramp       event-loop delay p99 ${ms(setup.simulatorLagP99Ms)} ms, max ${ms(setup.simulatorLagMaxMs)} ms`,
    `  connect failures      ${setup.connectFailures.total}${setup.connectFailures.total > 0 ? ":" : ""}`,
    ...reasons(setup.connectFailures, "    "),
    ...(setup.intervalMismatches > 0 ? [`  WARNING: ${setup.intervalMismatches} welcomes carried another check-in interval`] : []),
    "",
    `steady state (${window.seconds.toFixed(1)} s, after a ${window.warmUpSeconds.toFixed(0)} s warm-up)`,
    `  connected             ${window.connectedAtStart} at start, ${window.connectedAtEnd} at end`,
    `  check-ins             ${window.acked} acked of ${window.sent} sent: ${rate.toFixed(1)}/s (fleet rate ${expectedRate.toFixed(1)}/s)`,
    `  unanswered            ${window.sent - window.acked}`,
    `  latency               p50 ${ms(latency.p50)} ms, p90 ${ms(latency.p90)} ms, p99 ${ms(latency.p99)} ms, max ${ms(latency.max)} ms`,
    `  lost sessions, run    ${window.lostSessions.total}${window.lostSessions.total > 0 ? ":" : ""}`,
    ...reasons(window.lostSessions, "    "),
    `  server CPU            ${server.cpuSeconds.toFixed(2)} s = ${percentOfCore(server.cpuSeconds, window.seconds).toFixed(1)} % of one core (${Number.isFinite(cpuMicrosecondsPerCheckIn(report)) ? cpuMicrosecondsPerCheckIn(report).toFixed(0) : "n/a"} µs per check-in)`,
    `    by kind             user ${server.userSeconds.toFixed(2)} s, system ${server.systemSeconds.toFixed(2)} s`,
    `    by thread           ${server.threads.filter(([, seconds]) => seconds >= 0.01).map(([name, seconds]) => `${name} ${seconds.toFixed(2)} s`).join(", ")}`,
    `  server memory         peak RSS ${mib(server.peakRssBytes)} (VmHWM since start) = ${kib(server.peakRssBytes / Math.max(1, window.connectedAtEnd))} per agent; RSS now ${mib(server.rssBytes)} = ${kib(server.rssBytes / Math.max(1, window.connectedAtEnd))} per agent`,
    ...memoryLines(server.loopDelay?.memory, window.connectedAtEnd),
    `  server event loop     ${loopLine(server.loopDelay)}`,
    `  simulator CPU         ${simulator.cpuSeconds.toFixed(2)} s = ${percentOfCore(simulator.cpuSeconds, window.seconds).toFixed(1)} % of one core (the benchmark process); timers late p99 ${ms(simulator.eventLoopDelayP99Ms)} ms, max ${ms(simulator.eventLoopDelayMaxMs)} ms; RSS ${mib(simulator.rssBytes)}`,
    ...report.simulatorProcesses.map((child) => `    simulator ${String(child.pid).padEnd(8)}    ${child.cpuSeconds.toFixed(2)} s = ${percentOfCore(child.cpuSeconds, window.seconds).toFixed(1)} % of one core; RSS ${mib(child.rssBytes)}`),
    ...(report.simulatorProcesses.length > 0
      ? [`    simulators, total   ${totalSimulatorCpu(report).toFixed(2)} s = ${percentOfCore(totalSimulatorCpu(report), window.seconds).toFixed(1)} % of one core`]
      : []),
    `    agents' event loops late by p99 ${ms(simulator.agentLoopsLate.p99)} ms, max ${ms(simulator.agentLoopsLate.max)} ms (the processes running the agents; a late loop delays their acks' reading)`,
    ...(report.cluster ? ["", ...clusterLines(report.cluster, window.seconds)] : []),
    "",
    portainerLine(report),
    "",
    `targets (${targetsFor(report.agents).label})`,
    ...verdicts(report).map((verdict) => `  ${verdict.pass ? "met   " : "missed"}  ${verdict.label}`),
  ];
  return lines.join("\n");
}
