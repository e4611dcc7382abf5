import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Recovery } from "./fleet.ts";
import { LocalFleetPart, mergeSnapshots, sumByGroup, type FleetPartConfig, type FleetPartOperations, type FleetSnapshot, type WindowResult } from "./fleet-parts.ts";
import type { AgentIdentity } from "./fleet-pki.ts";
import { LatencySamples } from "./latency-samples.ts";
import type { PartReply, PartRequest } from "./simulator-child.ts";

type Operation = keyof FleetPartOperations;
type Result<K extends Operation> = ReturnType<FleetPartOperations[K]>;
type Args<K extends Operation> = Parameters<FleetPartOperations[K]>;

/** How long a child may take to answer one request (a snapshot of 12,500 agents takes milliseconds). */
const callTimeoutMs = 60_000;

/** A share of the fleet, in this process or in a child simulator. */
interface FleetPart {
  readonly pid: number;
  call<K extends Operation>(op: K, ...args: Args<K>): Promise<Result<K>>;
  kill(): void;
}

class InProcessPart implements FleetPart {
  readonly pid = process.pid;
  readonly #part = new LocalFleetPart();

  call<K extends Operation>(op: K, ...args: Args<K>): Promise<Result<K>> {
    try {
      const operation = this.#part[op] as (...values: Args<K>) => Result<K>;
      return Promise.resolve(operation.apply(this.#part, args));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  kill(): void {
    this.#part.stop();
  }
}

/** A child simulator (simulator-child.ts) over IPC; structured clone carries the typed arrays. */
class ChildPart implements FleetPart {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  #nextId = 0;
  #exit: string | undefined;

  constructor() {
    this.#child = fork(join(import.meta.dirname, "simulator-child.ts"), [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
    this.#child.on("message", (reply: PartReply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if ("error" in reply) pending.reject(new Error(`simulator ${this.pid}: ${reply.error}`));
      else pending.resolve(reply.result);
    });
    this.#child.once("exit", (code, signal) => {
      this.#exit = `simulator ${this.#child.pid} exited (${code ?? signal})`;
      for (const pending of this.#pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(new Error(this.#exit));
      }
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  call<K extends Operation>(op: K, ...args: Args<K>): Promise<Result<K>> {
    if (this.#exit) return Promise.reject(new Error(this.#exit));
    const id = this.#nextId++;
    return new Promise<Result<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`simulator ${this.pid} did not answer ${op} within ${callTimeoutMs / 1000} s`));
      }, callTimeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      const request: PartRequest = { id, op, args };
      this.#child.send(request);
    });
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGKILL");
  }
}

/** What `FleetGroup.start` needs besides the identities. */
export type FleetGroupTarget = Omit<FleetPartConfig, "identities" | "indexOffset">;

/**
 * The whole simulated fleet over `processes` simulator processes (1: in this process): each
 * drives a contiguous share of the identities, ramps it over the whole ramp (so the fleet's
 * connect rate is N / ramp), and answers for it; the group merges the answers.
 *
 * @example
 * const group = new FleetGroup(3);
 * await group.start(identities, { port, ca, timeoutMs: 15_000, intervalMs: 5000, rampMs: 60_000, retryUntilWall });
 * (await group.snapshot()).connected;
 * await group.stop();
 */
export class FleetGroup {
  readonly #parts: FleetPart[];

  constructor(processes: number) {
    this.#parts = processes <= 1 ? [new InProcessPart()] : Array.from({ length: processes }, () => new ChildPart());
  }

  /** The simulator processes (this one in one-process mode), for their CPU time. */
  get pids(): number[] {
    return this.#parts.map((part) => part.pid);
  }

  /** True when the agents run in child processes. */
  get forked(): boolean {
    return this.#parts.some((part) => part instanceof ChildPart);
  }

  async start(identities: readonly AgentIdentity[], target: FleetGroupTarget): Promise<void> {
    const share = Math.ceil(identities.length / this.#parts.length);
    await Promise.all(
      this.#parts.map((part, index) => part.call("start", { ...target, identities: identities.slice(index * share, (index + 1) * share), indexOffset: index * share })),
    );
  }

  async snapshot(): Promise<FleetSnapshot> {
    return mergeSnapshots(await this.#each("snapshot"));
  }

  async setupTimes(): Promise<LatencySamples> {
    const samples = new LatencySamples();
    for (const values of await this.#each("setupTimes")) samples.addAll(values);
    return samples;
  }

  async handshakeTimes(): Promise<LatencySamples> {
    const samples = new LatencySamples();
    for (const values of await this.#each("handshakeTimes")) samples.addAll(values);
    return samples;
  }

  async beginWindow(name: string): Promise<void> {
    await this.#each("beginWindow", name);
  }

  async endWindow(name: string): Promise<void> {
    await this.#each("endWindow", name);
  }

  /** The window's heartbeats and acks over the whole fleet (and per group, when the agents dial several ports). */
  async windowResult(name: string): Promise<{ sent: number; acked: number; latencies: LatencySamples; groupAcked: number[]; groupLatencies: LatencySamples[]; simulatorLoopLate: LatencySamples }> {
    const results: WindowResult[] = await this.#each("windowResult", name);
    const latencies = new LatencySamples();
    const simulatorLoopLate = new LatencySamples();
    for (const result of results) {
      latencies.addAll(result.latencies);
      simulatorLoopLate.addAll(result.loopLate);
    }
    const groupAcked = sumByGroup(results.map((result) => result.groupAcked));
    const groupLatencies = groupAcked.map((_, group) => {
      const samples = new LatencySamples();
      for (const result of results) {
        const values = result.groupLatencies[group];
        if (values) samples.addAll(values);
      }
      return samples;
    });
    return { sent: results.reduce((sum, result) => sum + result.sent, 0), acked: results.reduce((sum, result) => sum + result.acked, 0), latencies, groupAcked, groupLatencies, simulatorLoopLate };
  }

  async markSessionsHealthy(): Promise<void> {
    await this.#each("markSessionsHealthy");
  }

  async resetReconnectStats(): Promise<void> {
    await this.#each("resetReconnectStats");
  }

  /** Every agent's latest welcome and first ack after it (wall ms, NaN: none), in fleet order. */
  async recovery(): Promise<Recovery> {
    const parts: Recovery[] = await this.#each("recovery");
    const concat = <T extends Float64Array | Uint8Array>(pick: (part: Recovery) => T, make: (length: number) => T): T => {
      const out = make(parts.reduce((sum, part) => sum + pick(part).length, 0));
      let offset = 0;
      for (const part of parts) {
        out.set(pick(part), offset);
        offset += pick(part).length;
      }
      return out;
    };
    return {
      welcomedAt: concat((part) => part.welcomedAt, (length) => new Float64Array(length)),
      ackedAt: concat((part) => part.ackedAt, (length) => new Float64Array(length)),
      lostAt: concat((part) => part.lostAt, (length) => new Float64Array(length)),
      open: concat((part) => part.open, (length) => new Uint8Array(length)),
    };
  }

  /** Closes every session and ends the child simulators. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#parts.map((part) => part.call("stop")));
    this.killNow();
  }

  /** Last resort (an `exit` handler): synchronous. */
  killNow(): void {
    for (const part of this.#parts) part.kill();
  }

  #each<K extends Operation>(op: K, ...args: Args<K>): Promise<Result<K>[]> {
    return Promise.all(this.#parts.map((part) => part.call(op, ...args)));
  }
}
