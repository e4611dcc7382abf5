import type { LatencySamples, ReasonCounts } from "./latency-samples.ts";

/** Everything a run measured, for `formatReport`. */
export interface FleetReport {
  readonly command: string;
  readonly environment: string;
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly setup: {
    readonly certificatesSeconds: number;
    readonly serverStartSeconds: number;
    /** Fleet start → last agent connected (or the connect deadline). */
    readonly rampSeconds: number;
    readonly connected: number;
    readonly setupTimes: LatencySamples;
    readonly resumedHandshakes: number;
    readonly serverCpuSeconds: number;
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
  };
  readonly simulator: { readonly cpuSeconds: number; readonly eventLoopDelayP99Ms: number; readonly eventLoopDelayMaxMs: number; readonly rssBytes: number };
  readonly targets: { readonly serverCpuPercent: number; readonly p99Ms: number };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const ms = (value: number) => (Number.isNaN(value) ? "n/a" : value < 10 ? value.toFixed(2) : value.toFixed(1));
const percentOfCore = (cpuSeconds: number, seconds: number) => (seconds > 0 ? (100 * cpuSeconds) / seconds : Number.NaN);

function reasons(counts: ReasonCounts, indent: string): string[] {
  return counts.entries().map(([reason, count]) => `${indent}${String(count).padStart(6)} × ${reason}`);
}

/** The verdicts on the targets, also used for the summary line. */
export function verdicts(report: FleetReport): { label: string; pass: boolean }[] {
  const cpu = percentOfCore(report.server.cpuSeconds, report.window.seconds);
  const p99 = report.window.latencies.summary().p99;
  return [
    { label: `connected ${report.window.connectedAtEnd}/${report.agents} at the end of the window`, pass: report.window.connectedAtEnd === report.agents },
    { label: `server CPU ${cpu.toFixed(1)} % of one core < ${report.targets.serverCpuPercent} %`, pass: cpu < report.targets.serverCpuPercent },
    { label: `p99 check-in latency ${ms(p99)} ms < ${report.targets.p99Ms} ms`, pass: p99 < report.targets.p99Ms },
  ];
}

/** The table printed at the end of a run. */
export function formatReport(report: FleetReport): string {
  const { setup, window, server, simulator } = report;
  const connect = setup.setupTimes.summary();
  const latency = window.latencies.summary();
  const expectedRate = window.connectedAtStart / report.intervalSeconds;
  const rate = window.seconds > 0 ? window.acked / window.seconds : 0;
  const lines = [
    `Pier fleet benchmark: ${report.agents} agents, check-in every ${report.intervalSeconds} s, mutual TLS + HTTP/2 session`,
    `  command       ${report.command}`,
    `  machine       ${report.environment}`,
    "",
    "setup",
    `  certificates          ${report.agents} client + 1 server, ${setup.certificatesSeconds.toFixed(1)} s; server up in ${setup.serverStartSeconds.toFixed(1)} s`,
    `  connected             ${setup.connected}/${report.agents} in ${setup.rampSeconds.toFixed(1)} s`,
    `  connect → welcome     p50 ${ms(connect.p50)} ms, p99 ${ms(connect.p99)} ms, max ${ms(connect.max)} ms (${setup.resumedHandshakes} resumed)`,
    `  server CPU, ramp      ${setup.serverCpuSeconds.toFixed(2)} s (${setup.connected > 0 ? ((1000 * setup.serverCpuSeconds) / setup.connected).toFixed(2) : "n/a"} ms per connect, incl. heartbeats meanwhile)`,
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
    `  server CPU            ${server.cpuSeconds.toFixed(2)} s = ${percentOfCore(server.cpuSeconds, window.seconds).toFixed(1)} % of one core (${window.acked > 0 ? ((1e6 * server.cpuSeconds) / window.acked).toFixed(0) : "n/a"} µs per check-in)`,
    `    by kind             user ${server.userSeconds.toFixed(2)} s, system ${server.systemSeconds.toFixed(2)} s`,
    `    by thread           ${server.threads.filter(([, seconds]) => seconds >= 0.01).map(([name, seconds]) => `${name} ${seconds.toFixed(2)} s`).join(", ")}`,
    `  server memory         peak RSS ${mib(server.peakRssBytes)} (VmHWM since start), RSS now ${mib(server.rssBytes)}`,
    `  simulator CPU         ${simulator.cpuSeconds.toFixed(2)} s = ${percentOfCore(simulator.cpuSeconds, window.seconds).toFixed(1)} % of one core; event-loop delay p99 ${ms(simulator.eventLoopDelayP99Ms)} ms, max ${ms(simulator.eventLoopDelayMaxMs)} ms; RSS ${mib(simulator.rssBytes)}`,
    "",
    "targets",
    ...verdicts(report).map((verdict) => `  ${verdict.pass ? "PASS" : "FAIL"}  ${verdict.label}`),
  ];
  return lines.join("\n");
}
