import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { ClientRequest, ClientSlot, ClientSnapshot, HandshakeTarget, TargetCounts } from "./handshake-client.ts";
import type { HttpVersion } from "./http-exchange.ts";

/** One client process: the child and its pending snapshot requests. */
interface ClientProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly pending: Map<number, (snapshot: ClientSnapshot) => void>;
}

/** `after − before` of one target's counts (failures per reason). */
export function countsSince(before: TargetCounts | undefined, after: TargetCounts | undefined): TargetCounts {
  const failures: Record<string, number> = {};
  for (const [reason, count] of Object.entries(after?.failures ?? {})) {
    const delta = count - (before?.failures[reason] ?? 0);
    if (delta > 0) failures[reason] = delta;
  }
  return {
    completed: (after?.completed ?? 0) - (before?.completed ?? 0),
    failures,
    tickets: (after?.tickets ?? 0) - (before?.tickets ?? 0),
    ...(after?.negotiated === undefined ? {} : { negotiated: after.negotiated }),
  };
}

/** Adds `more` into `into` (a sum over client processes). */
function addCounts(into: TargetCounts, more: TargetCounts): void {
  into.completed += more.completed;
  into.tickets += more.tickets;
  for (const [reason, count] of Object.entries(more.failures)) into.failures[reason] = (into.failures[reason] ?? 0) + count;
  into.negotiated ??= more.negotiated;
}

/**
 * The benchmark's load generator: `processes` forked handshake-client.ts processes sharing
 * `slots` (one connection at a time each), aimed at one server at a time.
 *
 * @example
 * const load = HandshakeLoad.start({ processes: 2, slots, caPem, timeoutMs: 10_000, http: "http/1.1" });
 * load.aim({ name: "pier", port, expectedStatus: 404 });
 * const before = await load.snapshot(); … const after = await load.snapshot();
 * await load.stop();
 */
export class HandshakeLoad {
  readonly #clients: ClientProcess[];
  #nextId = 0;

  private constructor(clients: ClientProcess[]) {
    this.#clients = clients;
  }

  /** `cpuProfDir`: each client process writes a CPU profile there (`--cpu-prof`) when it ends. */
  static start(options: { readonly processes: number; readonly slots: readonly ClientSlot[]; readonly caPem: string; readonly timeoutMs: number; readonly http: HttpVersion; readonly cpuProfDir?: string }): HandshakeLoad {
    const execArgv = options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    const clients: ClientProcess[] = [];
    for (let p = 0; p < options.processes; p++) {
      const child = fork(join(import.meta.dirname, "handshake-client.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv });
      const pending = new Map<number, (snapshot: ClientSnapshot) => void>();
      child.on("message", (message: ClientSnapshot) => {
        pending.get(message.id)?.(message);
        pending.delete(message.id);
      });
      const exited = new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.once("error", () => resolve());
      });
      const slots = options.slots.filter((_, index) => index % options.processes === p);
      const setup: ClientRequest = { type: "setup", slots, caPem: options.caPem, timeoutMs: options.timeoutMs, http: options.http };
      child.send(setup);
      clients.push({ child, exited, pending });
    }
    return new HandshakeLoad(clients);
  }

  /** The client processes' ids (for their CPU time). */
  get pids(): number[] {
    return this.#clients.flatMap((client) => (client.child.pid === undefined ? [] : [client.child.pid]));
  }

  /** Every slot dials `target` from its next connection on; none: the slots stop after the connection under way. */
  aim(target: HandshakeTarget | undefined): void {
    const message: ClientRequest = target ? { type: "aim", target } : { type: "aim" };
    for (const client of this.#clients) client.child.send(message);
  }

  /** The counts of every process, summed per target name. */
  async snapshot(timeoutMs = 10_000): Promise<Map<string, TargetCounts>> {
    const snapshots = await Promise.all(
      this.#clients.map(
        (client) =>
          new Promise<ClientSnapshot>((resolve, reject) => {
            const id = this.#nextId++;
            const timer = setTimeout(() => {
              client.pending.delete(id);
              reject(new Error(`client process ${client.child.pid ?? "?"} did not answer within ${timeoutMs / 1000} s`));
            }, timeoutMs);
            client.pending.set(id, (snapshot) => {
              clearTimeout(timer);
              resolve(snapshot);
            });
            const request: ClientRequest = { type: "snapshot", id };
            client.child.send(request);
          }),
      ),
    );
    const sum = new Map<string, TargetCounts>();
    for (const snapshot of snapshots) {
      for (const [name, counts] of Object.entries(snapshot.counts)) {
        const into = sum.get(name) ?? { completed: 0, failures: {}, tickets: 0 };
        addCounts(into, counts);
        sum.set(name, into);
      }
    }
    return sum;
  }

  /** Closes the channels (each child exits on it), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    for (const client of this.#clients) if (client.child.connected) client.child.disconnect();
    const timer = setTimeout(() => this.killNow(), graceMs);
    await Promise.all(this.#clients.map((client) => client.exited));
    clearTimeout(timer);
  }

  /** Last resort from an `exit` handler. */
  killNow(): void {
    for (const client of this.#clients) if (client.child.exitCode === null && client.child.signalCode === null) client.child.kill("SIGKILL");
  }
}
