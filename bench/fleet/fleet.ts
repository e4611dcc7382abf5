import type { AgentIdentity } from "./fleet-pki.ts";
import { LatencySamples, ReasonCounts } from "./latency-samples.ts";
import { lostLink, reconnectWait, resetsBackoff, type Refusal } from "./reconnect-policy.ts";
import { SimulatedAgent, describeFailure, refusalOf, type AgentTarget } from "./simulated-agent.ts";
import { TurnPacer } from "./turn-pacer.ts";

/** How a fleet connects and checks in. */
export interface FleetOptions {
  readonly identities: readonly AgentIdentity[];
  /** Where every agent connects, or where agent `index` does (a fleet split over several balancers). */
  readonly target: AgentTarget | ((index: number) => AgentTarget);
  readonly intervalMs: number;
  /** Connections start evenly over this time. */
  readonly rampMs: number;
  /** performance.now() after which failed agents stop retrying. */
  readonly retryUntil: number;
  /** Agent `index` was told a desired-state version (welcome or status frame). */
  readonly onDesiredStateVersion?: (index: number, version: string) => void;
  /**
   * Index of this fleet's first agent in the whole simulated fleet (several simulator
   * processes each drive a share): heartbeat phases are spread over the whole fleet.
   */
  readonly indexOffset?: number;
  /**
   * Several listeners dialled directly (replicas): agent g of the whole fleet is in group
   * g mod `groups` (the one it dials), and windows and `connectedByGroup` count per group.
   */
  readonly groups?: number;
}

/** How the fleet's agents reconnected (counters since the start or the last `resetReconnectStats`). */
export interface ReconnectStats {
  /** Dials started (first connects and reconnects). */
  readonly dials: number;
  /** TLS handshakes completed. */
  readonly handshakes: number;
  /** Sessions welcomed. */
  readonly welcomes: number;
  /** The largest wait before a dial any agent used, ms. */
  readonly largestWaitMs: number;
  /** The highest backoff attempt any agent reached. */
  readonly largestAttempt: number;
  /** `refused` frames with `retryAfterSeconds`, by code. */
  readonly refusedWithRetryAfter: readonly [string, number][];
  /** Agents that stopped retrying because the benchmark's deadline passed. */
  readonly stoppedAtDeadline: number;
}

/** When each agent's latest session was welcomed and first acknowledged (wall ms; NaN: not yet). */
export interface Recovery {
  readonly welcomedAt: Float64Array;
  readonly ackedAt: Float64Array;
  /** When the agent's latest session ended (wall ms; NaN: never). */
  readonly lostAt: Float64Array;
  /** 1 where the agent's session is open now. */
  readonly open: Uint8Array;
}

/** performance.now() on the wall clock: comparable across the simulator's processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** Check-ins of heartbeats sent within [start, end). */
export interface MeasurementWindow {
  readonly start: number;
  end: number;
  sent: number;
  acked: number;
  readonly latencies: LatencySamples;
  /** Per group (FleetOptions.groups): acks and their latencies; empty without groups. */
  readonly groupAcked: number[];
  readonly groupLatencies: LatencySamples[];
}

/** What an agent of the fleet is doing. */
const AgentState = { idle: 0, waiting: 1, dialling: 2, open: 3, deadline: 4 } as const;

// Fractional part of i·φ: any prefix of the fleet (the agents connected so far during the ramp)
// has its heartbeat phases spread evenly over the interval, as a long-running fleet would.
const goldenRatio = (Math.sqrt(5) - 1) / 2;

/**
 * Drives many `SimulatedAgent`s in one process: staggered connects over the ramp, and after a
 * failed dial or a lost session the real agent's wait (reconnect-policy.ts: backoff, the
 * server's retry-after and `restarting` hints), and one heartbeat per agent per interval at a
 * fixed phase, so the server sees a steady, uniform check-in rate.
 *
 * @example
 * const fleet = new Fleet({ identities, target, intervalMs: 5000, rampMs: 20_000, retryUntil });
 * fleet.start();
 * const window = fleet.beginWindow(); … fleet.endWindow(window);
 * fleet.stop();
 */
export class Fleet {
  readonly connectFailures = new ReasonCounts();
  readonly lostSessions = new ReasonCounts();
  /** Connect → welcome times of successful connects (TLS handshake, HTTP/2, hello, store writes). */
  readonly setupTimes = new LatencySamples();
  /** Connect → TLS handshake done, of the same connects. */
  readonly handshakeTimes = new LatencySamples();
  resumedHandshakes = 0;
  /** Heartbeats acked since the start, whenever sent (windows count only theirs). */
  checkInsAcked = 0;
  /** Welcomes whose check-in interval differed from the one configured. */
  intervalMismatches = 0;
  readonly #options: FleetOptions;
  readonly #agents: SimulatedAgent[];
  readonly #lastSlot: number[];
  readonly #heartbeatTimers: (NodeJS.Timeout | undefined)[];
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  // Real devices dial on their own CPUs: this process dials at most 16 at a time between its I/O.
  readonly #dials = new TurnPacer(16);
  // Per agent: backoff attempt, when the current session started (performance.now()), whether it
  // counts as healthy whatever its age, and its latest welcome and first ack after it (wall ms).
  readonly #attempt: Uint16Array;
  readonly #sessionStart: Float64Array;
  readonly #healthy: Uint8Array;
  readonly #welcomedAt: Float64Array;
  readonly #ackedAt: Float64Array;
  readonly #lostAt: Float64Array;
  /** Per agent: what it is doing (`AgentState`). */
  readonly #state: Uint8Array;
  readonly #windows = new Set<MeasurementWindow>();
  #stats = Fleet.#emptyStats();
  #epoch = 0;
  #everOpened = 0;
  #stopped = false;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#agents = options.identities.map(
      (identity, index) =>
        new SimulatedAgent(identity, {
          onAck: (latencyMs, sentAt) => this.#onAck(index, latencyMs, sentAt),
          onLost: (reason, refusal) => this.#onLost(index, reason, refusal),
          onHandshake: () => this.#stats.handshakes++,
          onDesiredStateVersion: (version) => options.onDesiredStateVersion?.(index, version),
        }),
    );
    this.#lastSlot = this.#agents.map(() => -1);
    this.#heartbeatTimers = this.#agents.map(() => undefined);
    const count = this.#agents.length;
    this.#attempt = new Uint16Array(count);
    this.#sessionStart = new Float64Array(count);
    this.#healthy = new Uint8Array(count);
    this.#welcomedAt = new Float64Array(count).fill(Number.NaN);
    this.#ackedAt = new Float64Array(count).fill(Number.NaN);
    this.#lostAt = new Float64Array(count).fill(Number.NaN);
    this.#state = new Uint8Array(count).fill(AgentState.idle);
  }

  static #emptyStats() {
    return { dials: 0, handshakes: 0, welcomes: 0, largestWaitMs: 0, largestAttempt: 0, refusedWithRetryAfter: new ReasonCounts(), stoppedAtDeadline: 0 };
  }

  /** Reconnect counters since the start or the last `resetReconnectStats`. */
  get reconnectStats(): ReconnectStats {
    return { ...this.#stats, refusedWithRetryAfter: this.#stats.refusedWithRetryAfter.entries() };
  }

  /** Starts the reconnect counters over (e.g. at the moment a storm benchmark kills the server). */
  resetReconnectStats(): void {
    this.#stats = Fleet.#emptyStats();
  }

  /**
   * Lets every open session count as healthy when it ends, whatever its age: a real fleet's
   * sessions have been up for hours when its server restarts, so the agents' backoff starts over.
   */
  markSessionsHealthy(): void {
    this.#agents.forEach((agent, index) => {
      if (agent.isOpen) this.#healthy[index] = 1;
    });
  }

  /**
   * Agents that gave up: started, yet neither connected, dialling, waiting to retry, nor stopped
   * by the benchmark's deadline. The real agent never gives up, so anything here is a bug of
   * the simulated agent's state machine (an event it missed) or a hung dial.
   */
  get gaveUp(): number {
    if (this.#epoch === 0) return 0;
    let count = 0;
    for (const state of this.#state) if (state === AgentState.idle) count++;
    return count;
  }

  /** Each agent's latest welcome and first ack after it, wall ms (copies). */
  recovery(): Recovery {
    return { welcomedAt: this.#welcomedAt.slice(), ackedAt: this.#ackedAt.slice(), lostAt: this.#lostAt.slice(), open: Uint8Array.from(this.#agents, (agent) => (agent.isOpen ? 1 : 0)) };
  }

  get size(): number {
    return this.#agents.length;
  }

  /** Agent `index`, for requests on its session's connection. */
  agent(index: number): SimulatedAgent | undefined {
    return this.#agents[index];
  }

  /** Agents whose session is open now, per group (FleetOptions.groups; empty without). */
  get connectedByGroup(): number[] {
    const counts = new Array<number>(this.#options.groups ?? 0).fill(0);
    if (counts.length === 0) return counts;
    this.#agents.forEach((agent, index) => {
      const group = this.#groupOf(index);
      if (agent.isOpen) counts[group] = (counts[group] ?? 0) + 1;
    });
    return counts;
  }

  /** Agents whose session is open now. */
  get connected(): number {
    let open = 0;
    for (const agent of this.#agents) if (agent.isOpen) open++;
    return open;
  }

  /** Agents that got a welcome at least once. */
  get everConnected(): number {
    return this.#everOpened;
  }

  /** Heartbeats in flight across the fleet. */
  get inFlight(): number {
    let count = 0;
    for (const agent of this.#agents) count += agent.inFlight;
    return count;
  }

  /** Schedules every agent's first connect, evenly over the ramp. */
  start(): void {
    this.#epoch = performance.now();
    const step = this.#agents.length > 1 ? this.#options.rampMs / this.#agents.length : 0;
    this.#state.fill(AgentState.waiting);
    this.#agents.forEach((_, index) => this.#later(index * step, () => this.#dials.run(() => this.#connect(index))));
  }

  /** Starts counting check-ins of heartbeats sent from now on (windows may overlap). */
  beginWindow(): MeasurementWindow {
    const groups = this.#options.groups ?? 0;
    const window = {
      start: performance.now(),
      end: Number.POSITIVE_INFINITY,
      sent: 0,
      acked: 0,
      latencies: new LatencySamples(),
      groupAcked: new Array<number>(groups).fill(0),
      groupLatencies: Array.from({ length: groups }, () => new LatencySamples()),
    };
    this.#windows.add(window);
    return window;
  }

  /** Stops counting new heartbeats; acks of those already sent still count until `forgetWindow`. */
  endWindow(window: MeasurementWindow): void {
    window.end = performance.now();
  }

  /** Stops counting anything for `window`. */
  forgetWindow(window: MeasurementWindow): void {
    this.#windows.delete(window);
  }

  /** Stops all timers and closes every session. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const timer of this.#heartbeatTimers) clearTimeout(timer);
    for (const agent of this.#agents) agent.close();
  }

  #groupOf(index: number): number {
    return (index + (this.#options.indexOffset ?? 0)) % (this.#options.groups ?? 1);
  }

  #later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.#stopped) run();
    }, delayMs);
    this.#retryTimers.add(timer);
  }

  #connect(index: number): void {
    const agent = this.#agents[index];
    // A paced dial may come after stop().
    if (!agent || this.#stopped) return;
    const target = typeof this.#options.target === "function" ? this.#options.target(index) : this.#options.target;
    this.#stats.dials++;
    this.#state[index] = AgentState.dialling;
    agent.open(target).then(
      (opened) => {
        if (this.#stopped) {
          agent.close();
          return;
        }
        this.#stats.welcomes++;
        this.#state[index] = AgentState.open;
        this.#sessionStart[index] = performance.now();
        this.#healthy[index] = 0;
        this.#welcomedAt[index] = wallNow();
        this.#ackedAt[index] = Number.NaN;
        this.setupTimes.add(opened.setupMs);
        this.handshakeTimes.add(opened.handshakeMs);
        if (opened.resumed) this.resumedHandshakes++;
        if (opened.welcome.checkinIntervalSeconds * 1000 !== this.#options.intervalMs) this.intervalMismatches++;
        if (this.#lastSlot[index] === -1) {
          this.#everOpened++;
          this.#lastSlot[index] = 0;
          this.#scheduleHeartbeat(index);
        }
      },
      (error: unknown) => {
        if (this.#stopped) return;
        this.connectFailures.add(describeFailure(error));
        this.#state[index] = AgentState.idle;
        if (performance.now() >= this.#options.retryUntil) {
          this.#stats.stoppedAtDeadline++;
          this.#state[index] = AgentState.deadline;
          return;
        }
        this.#reconnectLater(index, refusalOf(error), lostLink(error));
      },
    );
  }

  /** Waits as the real agent would (reconnect-policy.ts), then dials again. */
  #reconnectLater(index: number, refusal: Refusal | undefined, unreached = false): void {
    if (refusal?.retryAfterSeconds !== undefined) this.#stats.refusedWithRetryAfter.add(refusal.code);
    const attempt = this.#attempt[index] ?? 0;
    const { waitMs, advance } = reconnectWait(attempt, refusal, Math.random, { unreached, checkinIntervalMs: this.#options.intervalMs });
    if (advance) this.#attempt[index] = Math.min(attempt + 1, 0xffff);
    this.#stats.largestWaitMs = Math.max(this.#stats.largestWaitMs, waitMs);
    this.#stats.largestAttempt = Math.max(this.#stats.largestAttempt, this.#attempt[index] ?? 0);
    this.#state[index] = AgentState.waiting;
    this.#later(waitMs, () => this.#dials.run(() => this.#connect(index)));
  }

  #onLost(index: number, reason: string, refusal: Refusal | undefined): void {
    if (this.#stopped) return;
    this.lostSessions.add(reason);
    this.#lostAt[index] = wallNow();
    this.#state[index] = AgentState.idle;
    if (this.#healthy[index] === 1 || resetsBackoff(this.#sessionStart[index] ?? 0, performance.now())) this.#attempt[index] = 0;
    this.#healthy[index] = 0;
    this.#reconnectLater(index, refusal);
  }

  #onAck(index: number, latencyMs: number, sentAt: number): void {
    this.checkInsAcked++;
    if (Number.isNaN(this.#ackedAt[index])) this.#ackedAt[index] = wallNow();
    for (const window of this.#windows) {
      if (sentAt < window.start || sentAt >= window.end) continue;
      window.acked++;
      window.latencies.add(latencyMs);
      if (window.groupLatencies.length > 0) {
        const group = this.#groupOf(index);
        window.groupAcked[group] = (window.groupAcked[group] ?? 0) + 1;
        window.groupLatencies[group]?.add(latencyMs);
      }
    }
  }

  /** Next heartbeat at epoch + phase + k·interval, never the same slot twice, never drifting. */
  #scheduleHeartbeat(index: number): void {
    const interval = this.#options.intervalMs;
    const phase = (((index + (this.#options.indexOffset ?? 0)) * goldenRatio) % 1) * interval;
    const now = performance.now();
    const due = Math.ceil((now - this.#epoch - phase) / interval);
    const slot = Math.max((this.#lastSlot[index] ?? 0) + 1, due);
    this.#lastSlot[index] = slot;
    const at = this.#epoch + phase + slot * interval;
    this.#heartbeatTimers[index] = setTimeout(() => {
      if (this.#stopped) return;
      const agent = this.#agents[index];
      if (agent?.heartbeat()) {
        const sentAt = performance.now();
        for (const window of this.#windows) if (sentAt >= window.start && sentAt < window.end) window.sent++;
      }
      this.#scheduleHeartbeat(index);
    }, Math.max(0, at - now));
  }
}
