import type { AgentIdentity } from "./fleet-pki.ts";
import { LatencySamples, ReasonCounts } from "./latency-samples.ts";
import { SimulatedAgent, describeFailure, type AgentTarget } from "./simulated-agent.ts";

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
}

/** Check-ins of heartbeats sent within [start, end). */
export interface MeasurementWindow {
  readonly start: number;
  end: number;
  sent: number;
  acked: number;
  readonly latencies: LatencySamples;
}

// Fractional part of i·φ: any prefix of the fleet (the agents connected so far during the ramp)
// has its heartbeat phases spread evenly over the interval, as a long-running fleet would.
const goldenRatio = (Math.sqrt(5) - 1) / 2;

/**
 * Drives many `SimulatedAgent`s in one process: staggered connects over the ramp, retries with
 * backoff and jitter (as the real agent), reconnects after a lost session, and one heartbeat per
 * agent per interval at a fixed phase, so the server sees a steady, uniform check-in rate.
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
  resumedHandshakes = 0;
  /** Welcomes whose check-in interval differed from the one configured. */
  intervalMismatches = 0;
  readonly #options: FleetOptions;
  readonly #agents: SimulatedAgent[];
  readonly #lastSlot: number[];
  readonly #heartbeatTimers: (NodeJS.Timeout | undefined)[];
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #epoch = 0;
  #everOpened = 0;
  #stopped = false;
  #window: MeasurementWindow | undefined;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#agents = options.identities.map(
      (identity, index) =>
        new SimulatedAgent(identity, {
          onAck: (latencyMs, sentAt) => this.#onAck(latencyMs, sentAt),
          onLost: (reason) => this.#onLost(index, reason),
          onDesiredStateVersion: (version) => options.onDesiredStateVersion?.(index, version),
        }),
    );
    this.#lastSlot = this.#agents.map(() => -1);
    this.#heartbeatTimers = this.#agents.map(() => undefined);
  }

  get size(): number {
    return this.#agents.length;
  }

  /** Agent `index`, for requests on its session's connection. */
  agent(index: number): SimulatedAgent | undefined {
    return this.#agents[index];
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
    this.#agents.forEach((_, index) => this.#later(index * step, () => this.#connect(index, 0)));
  }

  /** Starts counting check-ins of heartbeats sent from now on. */
  beginWindow(): MeasurementWindow {
    this.#window = { start: performance.now(), end: Number.POSITIVE_INFINITY, sent: 0, acked: 0, latencies: new LatencySamples() };
    return this.#window;
  }

  /** Stops counting new heartbeats; acks of those already sent still count. */
  endWindow(window: MeasurementWindow): void {
    window.end = performance.now();
  }

  /** Stops all timers and closes every session. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const timer of this.#heartbeatTimers) clearTimeout(timer);
    for (const agent of this.#agents) agent.close();
  }

  #later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.#stopped) run();
    }, delayMs);
    this.#retryTimers.add(timer);
  }

  #connect(index: number, attempt: number): void {
    const agent = this.#agents[index];
    if (!agent) return;
    const target = typeof this.#options.target === "function" ? this.#options.target(index) : this.#options.target;
    agent.open(target).then(
      (opened) => {
        if (this.#stopped) {
          agent.close();
          return;
        }
        this.setupTimes.add(opened.setupMs);
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
        if (performance.now() >= this.#options.retryUntil) return;
        // The real agent's backoff: 1 s doubling, full jitter; capped lower to fit a bounded run.
        const ceiling = Math.min(8_000, 1_000 * 2 ** attempt);
        this.#later(Math.random() * ceiling, () => this.#connect(index, attempt + 1));
      },
    );
  }

  #onLost(index: number, reason: string): void {
    if (this.#stopped) return;
    this.lostSessions.add(reason);
    this.#later(Math.random() * 1_000, () => this.#connect(index, 0));
  }

  #onAck(latencyMs: number, sentAt: number): void {
    const window = this.#window;
    if (!window || sentAt < window.start || sentAt >= window.end) return;
    window.acked++;
    window.latencies.add(latencyMs);
  }

  /** Next heartbeat at epoch + phase + k·interval, never the same slot twice, never drifting. */
  #scheduleHeartbeat(index: number): void {
    const interval = this.#options.intervalMs;
    const phase = ((index * goldenRatio) % 1) * interval;
    const now = performance.now();
    const due = Math.ceil((now - this.#epoch - phase) / interval);
    const slot = Math.max((this.#lastSlot[index] ?? 0) + 1, due);
    this.#lastSlot[index] = slot;
    const at = this.#epoch + phase + slot * interval;
    this.#heartbeatTimers[index] = setTimeout(() => {
      if (this.#stopped) return;
      const agent = this.#agents[index];
      if (agent?.heartbeat()) {
        const window = this.#window;
        if (window && performance.now() < window.end) window.sent++;
      }
      this.#scheduleHeartbeat(index);
    }, Math.max(0, at - now));
  }
}
