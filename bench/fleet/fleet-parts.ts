import { Fleet, wallNow, type MeasurementWindow, type ReconnectStats, type Recovery } from "./fleet.ts";
import type { AgentIdentity } from "./fleet-pki.ts";
import { ReasonCounts, startLagProbe } from "./latency-samples.ts";

/** What a share of the fleet is told at start (plain data: it crosses IPC to a child simulator). */
export interface FleetPartConfig {
  readonly identities: readonly AgentIdentity[];
  /** Index of the share's first agent in the whole fleet. */
  readonly indexOffset: number;
  readonly port: number;
  /**
   * Several listeners dialled directly (replicas), instead of `port`: agent g of the whole fleet
   * dials ports[g mod n] and counts in that group (snapshots and windows per group).
   */
  readonly ports?: readonly number[];
  readonly ca: Buffer | Uint8Array;
  /** TCP + TLS handshake bound (the real agent's dial: 15 s). */
  readonly timeoutMs: number;
  /** Handshake → welcome bound (the real agent has none; the benchmark's safety net). */
  readonly welcomeTimeoutMs: number;
  readonly intervalMs: number;
  readonly rampMs: number;
  /** Wall-clock ms (`wallNow()`) after which a failed dial is not retried. */
  readonly retryUntilWall: number;
}

/** Counts of one share (or, merged, of the whole fleet) at one moment. */
export interface FleetSnapshot {
  readonly size: number;
  readonly connected: number;
  /** Per group (FleetPartConfig.ports), open sessions; empty without groups. */
  readonly connectedByGroup: number[];
  readonly everConnected: number;
  readonly inFlight: number;
  readonly gaveUp: number;
  readonly resumedHandshakes: number;
  /** Heartbeats acked since the start (bench/fleet-simulator.ts: those answered during the ramp). */
  readonly checkInsAcked: number;
  readonly intervalMismatches: number;
  readonly connectFailures: [string, number][];
  readonly lostSessions: [string, number][];
  readonly reconnect: ReconnectStats;
}

/** Heartbeats sent in a named window, their acks and ack latencies (ms). */
export interface WindowResult {
  readonly sent: number;
  readonly acked: number;
  readonly latencies: Float64Array;
  /** Per group (FleetPartConfig.ports): acks and their latencies; empty without groups. */
  readonly groupAcked: number[];
  readonly groupLatencies: Float64Array[];
  /** How late this simulator's event loop was during the window: one sample per 20 ms tick, ms. */
  readonly loopLate: Float64Array;
}

/** The operations every share of the fleet answers, in this process or in a child simulator. */
export interface FleetPartOperations {
  start(config: FleetPartConfig): void;
  snapshot(): FleetSnapshot;
  setupTimes(): Float64Array;
  handshakeTimes(): Float64Array;
  beginWindow(name: string): void;
  endWindow(name: string): void;
  windowResult(name: string): WindowResult;
  markSessionsHealthy(): void;
  resetReconnectStats(): void;
  recovery(): Recovery;
  stop(): void;
}

/** Loopback source address of agent `index` of the whole fleet: each agent its own, as devices are. */
export function fleetSourceAddress(index: number): string {
  return `127.${3 + (index >> 16)}.${(index >> 8) & 255}.${index & 255}`;
}

/**
 * One share of the fleet driven by a `Fleet` in the calling process: what a child simulator
 * runs (simulator-child.ts), and the whole fleet in one-process mode.
 */
export class LocalFleetPart implements FleetPartOperations {
  #fleet: Fleet | undefined;
  readonly #windows = new Map<string, { readonly window: MeasurementWindow; readonly loop: ReturnType<typeof startLagProbe> }>();

  get #started(): Fleet {
    if (!this.#fleet) throw new Error("the fleet part was not started");
    return this.#fleet;
  }

  start(config: FleetPartConfig): void {
    const ca = Buffer.from(config.ca);
    const ports = config.ports ?? [];
    const portOf = (index: number) => (ports.length === 0 ? config.port : (ports[(config.indexOffset + index) % ports.length] ?? config.port));
    this.#fleet = new Fleet({
      identities: config.identities,
      indexOffset: config.indexOffset,
      ...(ports.length > 0 ? { groups: ports.length } : {}),
      target: (index) => ({ port: portOf(index), ca, timeoutMs: config.timeoutMs, welcomeTimeoutMs: config.welcomeTimeoutMs, localAddress: fleetSourceAddress(config.indexOffset + index) }),
      intervalMs: config.intervalMs,
      rampMs: config.rampMs,
      retryUntil: performance.now() + (config.retryUntilWall - wallNow()),
    });
    this.#fleet.start();
  }

  snapshot(): FleetSnapshot {
    const fleet = this.#started;
    return {
      size: fleet.size,
      connected: fleet.connected,
      connectedByGroup: fleet.connectedByGroup,
      everConnected: fleet.everConnected,
      inFlight: fleet.inFlight,
      gaveUp: fleet.gaveUp,
      resumedHandshakes: fleet.resumedHandshakes,
      checkInsAcked: fleet.checkInsAcked,
      intervalMismatches: fleet.intervalMismatches,
      connectFailures: fleet.connectFailures.entries(),
      lostSessions: fleet.lostSessions.entries(),
      reconnect: fleet.reconnectStats,
    };
  }

  setupTimes(): Float64Array {
    return this.#started.setupTimes.values();
  }

  handshakeTimes(): Float64Array {
    return this.#started.handshakeTimes.values();
  }

  beginWindow(name: string): void {
    this.#windows.set(name, { window: this.#started.beginWindow(), loop: startLagProbe() });
  }

  endWindow(name: string): void {
    const measured = this.#windows.get(name);
    if (!measured) return;
    this.#started.endWindow(measured.window);
    measured.loop.stop();
  }

  windowResult(name: string): WindowResult {
    const measured = this.#windows.get(name);
    if (!measured) return { sent: 0, acked: 0, latencies: new Float64Array(), groupAcked: [], groupLatencies: [], loopLate: new Float64Array() };
    const { window, loop } = measured;
    return { sent: window.sent, acked: window.acked, latencies: window.latencies.values(), groupAcked: [...window.groupAcked], groupLatencies: window.groupLatencies.map((samples) => samples.values()), loopLate: loop.samples.values() };
  }

  markSessionsHealthy(): void {
    this.#started.markSessionsHealthy();
  }

  resetReconnectStats(): void {
    this.#started.resetReconnectStats();
  }

  recovery(): Recovery {
    return this.#started.recovery();
  }

  stop(): void {
    this.#fleet?.stop();
  }
}

/** Per-group counts of several shares, added group by group. */
export function sumByGroup(parts: readonly (readonly number[])[]): number[] {
  const total = new Array<number>(Math.max(0, ...parts.map((part) => part.length))).fill(0);
  for (const part of parts) part.forEach((count, group) => (total[group] = (total[group] ?? 0) + count));
  return total;
}

/** `snapshot()`s of several shares as one. */
export function mergeSnapshots(parts: readonly FleetSnapshot[]): FleetSnapshot {
  const sum = (pick: (part: FleetSnapshot) => number) => parts.reduce((total, part) => total + pick(part), 0);
  const merged = (pick: (part: FleetSnapshot) => readonly [string, number][]) => {
    const counts = new ReasonCounts();
    for (const part of parts) for (const [reason, count] of pick(part)) counts.add(reason, count);
    return counts.entries();
  };
  return {
    size: sum((part) => part.size),
    connected: sum((part) => part.connected),
    connectedByGroup: sumByGroup(parts.map((part) => part.connectedByGroup)),
    everConnected: sum((part) => part.everConnected),
    inFlight: sum((part) => part.inFlight),
    gaveUp: sum((part) => part.gaveUp),
    resumedHandshakes: sum((part) => part.resumedHandshakes),
    checkInsAcked: sum((part) => part.checkInsAcked),
    intervalMismatches: sum((part) => part.intervalMismatches),
    connectFailures: merged((part) => part.connectFailures),
    lostSessions: merged((part) => part.lostSessions),
    reconnect: {
      dials: sum((part) => part.reconnect.dials),
      handshakes: sum((part) => part.reconnect.handshakes),
      welcomes: sum((part) => part.reconnect.welcomes),
      largestWaitMs: Math.max(0, ...parts.map((part) => part.reconnect.largestWaitMs)),
      largestAttempt: Math.max(0, ...parts.map((part) => part.reconnect.largestAttempt)),
      refusedWithRetryAfter: merged((part) => part.reconnect.refusedWithRetryAfter),
      stoppedAtDeadline: sum((part) => part.reconnect.stoppedAtDeadline),
    },
  };
}
