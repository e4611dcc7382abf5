import { setTimeout as sleep } from "node:timers/promises";
import { wallNow } from "./fleet.ts";
import type { FleetGroup } from "./fleet-group.ts";
import type { FleetSnapshot } from "./fleet-parts.ts";
import type { FleetPki } from "./fleet-pki.ts";
import { startLagProbe, type LatencySamples } from "./latency-samples.ts";
import { listening } from "./port-listening.ts";
import { sampleProcess, type ProcessSample, type ServerProcess } from "./server-process.ts";

/** After the window, how long acks of heartbeats sent in it may still arrive. */
export const ackGraceMs = 5_000;

/** How long a SIGTERM-ed server may drain before it is killed. */
export const drainLimitMs = 20_000;

/** Reports the ramp every two seconds until everyone is connected or the deadline passes. */
export async function waitForFleet(fleet: FleetGroup, size: number, deadline: number, signal: AbortSignal, progress: (message: string) => void): Promise<void> {
  let lastReport = 0;
  for (;;) {
    const snapshot = await fleet.snapshot();
    if (snapshot.connected >= size || performance.now() >= deadline) return;
    if (performance.now() - lastReport >= 2_000) {
      lastReport = performance.now();
      progress(`connected ${snapshot.connected}/${size}, connect failures ${snapshot.connectFailures.reduce((sum, [, count]) => sum + count, 0)}`);
    }
    await sleep(250, undefined, { signal });
  }
}

/** Until every heartbeat of the window is acked, nothing is in flight, or the grace is over. */
export async function waitForAcks(fleet: FleetGroup, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + ackGraceMs;
  while (performance.now() < deadline) {
    const [window, snapshot] = await Promise.all([fleet.windowResult("window"), fleet.snapshot()]);
    if (window.acked >= window.sent || snapshot.inFlight === 0) return;
    await sleep(100, undefined, { signal });
  }
}

/**
 * Starts the fleet's connects, evenly over `rampMs`: every agent dials `ports[0]`, or with
 * several ports (replicas dialled directly) agent g dials ports[g mod n]. A failed dial is
 * retried until `retryUntilWall` (wall ms).
 */
export async function startFleet(fleet: FleetGroup, pki: FleetPki, ports: readonly number[], timing: { readonly intervalMs: number; readonly rampMs: number; readonly retryUntilWall: number }): Promise<void> {
  await fleet.start(pki.agents, {
    port: ports[0] ?? 0,
    ...(ports.length > 1 ? { ports } : {}),
    ca: pki.caPem,
    timeoutMs: 15_000,
    welcomeTimeoutMs: 60_000,
    intervalMs: timing.intervalMs,
    rampMs: timing.rampMs,
    retryUntilWall: timing.retryUntilWall,
  });
}

/** How a storm benchmark's fleet connects before the baseline (`connectStormFleet`). */
export interface StormConnect {
  readonly pki: FleetPki;
  readonly ports: readonly number[];
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly rampSeconds: number;
  readonly baselineSeconds: number;
  readonly processes: number;
  readonly connectGraceMs: number;
  /** Ends the "connecting …" line: where the agents dial ("" for one server). */
  readonly destination: string;
  /** What the servers printed, for the failure when no agent connects. */
  readonly output: () => string;
  readonly progress: (message: string) => void;
}

/**
 * A storm benchmark's ramp: the agents connect over the ramp and retry for the whole run (only
 * the run's own limit stops them); after the ramp and its grace, one interval of warm-up.
 * Throws when no agent connected.
 */
export async function connectStormFleet(fleet: FleetGroup, options: StormConnect, signal: AbortSignal): Promise<void> {
  const { progress } = options;
  const rampMs = options.rampSeconds * 1000;
  const connectDeadline = performance.now() + rampMs + options.connectGraceMs;
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s from ${options.processes} simulator process${options.processes === 1 ? "" : "es"}${options.destination}`);
  await startFleet(fleet, options.pki, options.ports, { intervalMs: options.intervalSeconds * 1000, rampMs, retryUntilWall: wallNow() + 24 * 3_600_000 });
  let snapshot: FleetSnapshot = await fleet.snapshot();
  for (let lastReport = 0; snapshot.connected < options.agents && performance.now() < connectDeadline; snapshot = await fleet.snapshot()) {
    if (performance.now() - lastReport >= 5_000) {
      lastReport = performance.now();
      progress(`connected ${snapshot.connected}/${options.agents}`);
    }
    await sleep(250, undefined, { signal });
  }
  if (snapshot.connected === 0) throw new Error(`No agent could connect: ${JSON.stringify(snapshot.connectFailures.slice(0, 5))}\n${options.output()}`);
  progress(`connected ${snapshot.connected}/${options.agents}; warming up for ${options.intervalSeconds} s, then a ${options.baselineSeconds} s baseline`);
  await sleep(options.intervalSeconds * 1000, undefined, { signal });
}

/**
 * The "after" window of a storm benchmark: `afterSeconds` of heartbeats once the fleet is back,
 * then up to one interval (at most 5 s) for their acks. Undefined when `afterSeconds` is 0.
 */
export async function measureAfter(fleet: FleetGroup, afterSeconds: number, intervalMs: number, signal: AbortSignal): Promise<LatencySamples | undefined> {
  if (afterSeconds <= 0) return undefined;
  await fleet.beginWindow("after");
  await sleep(afterSeconds * 1000, undefined, { signal });
  await fleet.endWindow("after");
  await sleep(Math.min(5_000, intervalMs), undefined, { signal });
  return (await fleet.windowResult("after")).latencies;
}

/** When a storm's kill happened, the server exited and the restarted one listened (wall ms). */
export interface Restart {
  readonly killedAt: number;
  readonly exitedAt: number;
  readonly listeningAt: number;
  readonly restarted: ServerProcess;
}

/**
 * A storm's kill: SIGKILL (SIGTERM with `graceful`, SIGKILL after `drainLimitMs`) to `server`
 * (called `name` in progress lines), then its restart on the same data and ports, as systemd or
 * Docker would; resolves once the new process listens on the tunnel port. `onSignalled` runs
 * right after the signal, `onRestarted` gets the new process as soon as it exists.
 */
export async function killAndRestart(
  server: ServerProcess,
  how: { readonly graceful: boolean; readonly name: string; readonly onSignalled?: () => Promise<void>; readonly onRestarted: (server: ServerProcess) => void },
  progress: (message: string) => void,
  signal: AbortSignal,
): Promise<Restart> {
  const seconds = (ms: number) => (ms / 1000).toFixed(1);
  const killedAt = wallNow();
  server.signal(how.graceful ? "SIGTERM" : "SIGKILL");
  await how.onSignalled?.();
  const drain = setTimeout(() => server.signal("SIGKILL"), drainLimitMs);
  await server.exited;
  clearTimeout(drain);
  const exitedAt = wallNow();
  progress(`${how.name} ${how.graceful ? "drained and exited" : "killed"} after ${seconds(exitedAt - killedAt)} s; starting it again`);
  const restarted = await server.restart();
  how.onRestarted(restarted);
  const listeningAt = await listening(restarted.tunnelPort, () => !restarted.running, signal);
  if (Number.isNaN(listeningAt)) throw new Error(`the restarted ${how.name} exited:\n${restarted.output()}`);
  progress(`${how.name} listening again ${seconds(listeningAt - killedAt)} s after the kill`);
  return { killedAt, exitedAt, listeningAt, restarted };
}

/** How a fleet benchmark's fleet connects (`rampFleet`). */
export interface FleetRampOptions {
  readonly pki: FleetPki;
  readonly ports: readonly number[];
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly rampSeconds: number;
  readonly processes: number;
  readonly connectGraceMs: number;
  /** Ends the "connecting …" line: where the agents dial ("" for one server). */
  readonly destination: string;
  /** The server's (or the replicas' summed) CPU now, sampled around the ramp. */
  readonly serverCpuSeconds: () => number;
  /** What the servers printed, for the failure when no agent connects. */
  readonly output: () => string;
  readonly progress: (message: string) => void;
}

/** What the ramp of a fleet benchmark measured. */
export interface FleetRamp {
  /** Fleet start → last agent connected (or the connect deadline). */
  readonly seconds: number;
  readonly connected: number;
  /** The server's CPU over the ramp (connects, and heartbeats of the agents already connected). */
  readonly serverCpuSeconds: number;
  /** Heartbeats acked from the fleet's start to the ramp's end: the check-ins in `serverCpuSeconds`. */
  readonly checkInsAcked: number;
  /** How late the simulator's timers fired meanwhile. */
  readonly simulatorLag: ReturnType<LatencySamples["summary"]>;
}

/**
 * A fleet benchmark's ramp: connects evenly over the ramp, failed dials retried until the ramp
 * and its grace are over, then one interval of warm-up so every agent has sent a heartbeat on
 * its phase before the window. Throws when no agent connected.
 */
export async function rampFleet(fleet: FleetGroup, options: FleetRampOptions, signal: AbortSignal): Promise<FleetRamp> {
  const { progress } = options;
  const rampMs = options.rampSeconds * 1000;
  const fleetStart = performance.now();
  const connectDeadline = fleetStart + rampMs + options.connectGraceMs;
  const cpuBefore = options.serverCpuSeconds();
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s from ${options.processes} simulator process${options.processes === 1 ? "" : "es"}${options.destination}`);
  const lag = startLagProbe();
  await startFleet(fleet, options.pki, options.ports, { intervalMs: options.intervalSeconds * 1000, rampMs, retryUntilWall: wallNow() + rampMs + options.connectGraceMs });
  await waitForFleet(fleet, options.agents, connectDeadline, signal, progress);
  const seconds = (performance.now() - fleetStart) / 1000;
  const serverCpuSeconds = options.serverCpuSeconds() - cpuBefore;
  const simulatorLag = lag.stop();
  const snapshot = await fleet.snapshot();
  progress(`connected ${snapshot.connected}/${options.agents} in ${seconds.toFixed(1)} s; warming up for ${options.intervalSeconds} s`);
  if (snapshot.connected === 0) throw new Error(`No agent could connect. Reasons: ${JSON.stringify(snapshot.connectFailures)}\n${options.output()}`);
  await sleep(options.intervalSeconds * 1000, undefined, { signal });
  return { seconds, connected: snapshot.connected, serverCpuSeconds, checkInsAcked: snapshot.checkInsAcked, simulatorLag };
}

/**
 * What the measured window of a fleet benchmark saw; `Sample` is the server side's sample,
 * `Loops` its event-loop delay over the window.
 */
export interface FleetWindow<Sample, Loops> {
  readonly seconds: number;
  readonly connectedAtStart: number;
  readonly connectedAtEnd: number;
  /** Heartbeats sent in the window, their acks (waited for after it) and latencies. */
  readonly result: Awaited<ReturnType<FleetGroup["windowResult"]>>;
  readonly server: { readonly atStart: Sample; readonly atEnd: Sample; readonly loops: Loops };
  /** CLOCK_MONOTONIC at the window's bounds (a --cpu-prof profile's clock). */
  readonly monotonic: { readonly start: bigint; readonly end: bigint };
  /** This process: its CPU over the window and its timers' lateness. */
  readonly simulator: { readonly cpuSeconds: number; readonly lag: ReturnType<LatencySamples["summary"]> };
  /** Each child simulator process over the window (empty in one-process mode). */
  readonly simulatorProcesses: readonly { readonly pid: number; readonly cpuSeconds: number; readonly rssBytes: number }[];
  /** The fleet after the acks, and its connects' times over the whole run. */
  readonly end: FleetSnapshot;
  readonly setupTimes: LatencySamples;
  readonly handshakeTimes: LatencySamples;
}

/**
 * A fleet benchmark's window: `durationSeconds` of check-ins with the server sampled at both
 * ends (`server.sample`) and its event-loop probes read over it (`server.markLoops` at both
 * ends), then up to `ackGraceMs` for the acks of heartbeats sent in it.
 */
export async function measureFleetWindow<Sample, Loops>(
  fleet: FleetGroup,
  durationSeconds: number,
  server: { readonly sample: () => Sample; readonly markLoops: () => Promise<Loops> },
  progress: (message: string) => void,
  signal: AbortSignal,
): Promise<FleetWindow<Sample, Loops>> {
  progress(`measuring for ${durationSeconds} s`);
  const lag = startLagProbe();
  await server.markLoops();
  const simulatorsAtStart = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const atStart = server.sample();
  const cpuAtStart = process.cpuUsage();
  const monotonicStart = process.hrtime.bigint();
  const windowStart = performance.now();
  await fleet.beginWindow("window");
  const connectedAtStart = (await fleet.snapshot()).connected;
  await sleep(durationSeconds * 1000, undefined, { signal });
  await fleet.endWindow("window");
  const seconds = (performance.now() - windowStart) / 1000;
  const atEnd = server.sample();
  const simulatorsAtEnd: ProcessSample[] = fleet.forked ? fleet.pids.map((pid) => sampleProcess(pid)) : [];
  const cpu = process.cpuUsage(cpuAtStart);
  const monotonicEnd = process.hrtime.bigint();
  const loops = await server.markLoops();
  const simulatorLag = lag.stop();
  const connectedAtEnd = (await fleet.snapshot()).connected;
  await waitForAcks(fleet, signal);
  return {
    seconds,
    connectedAtStart,
    connectedAtEnd,
    result: await fleet.windowResult("window"),
    server: { atStart, atEnd, loops },
    monotonic: { start: monotonicStart, end: monotonicEnd },
    simulator: { cpuSeconds: (cpu.user + cpu.system) / 1e6, lag: simulatorLag },
    simulatorProcesses: simulatorsAtEnd.map((sample, index) => ({ pid: fleet.pids[index] ?? 0, cpuSeconds: sample.cpuSeconds - (simulatorsAtStart[index]?.cpuSeconds ?? 0), rssBytes: sample.rssBytes })),
    end: await fleet.snapshot(),
    setupTimes: await fleet.setupTimes(),
    handshakeTimes: await fleet.handshakeTimes(),
  };
}
