import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";

/** Timing of the replica rows (docs/architecture.md "Session ownership", "Failure of a replica"). */
export const replicaTiming = {
  /** How often a replica refreshes its row. */
  touchIntervalMs: 2_000,
  /** A replica not seen for this long is dead: its sessions are ignored. */
  aliveMs: 10_000,
  /** A replica not seen for this long is deleted with its `edge_sessions` rows. */
  pruneAfterMs: 60_000,
} as const;

/** The timing, as numbers. */
export type ReplicaTiming = { readonly [K in keyof typeof replicaTiming]: number };

/** This replica, as the others see it. */
export interface ReplicaSelf {
  readonly id: string;
  readonly name: string;
  readonly peerAddress: string;
}

/** What the registry needs. */
export interface ReplicaRegistryOptions {
  readonly store: Pick<ClusterStore, "touchReplica" | "getReplica" | "pruneReplicas">;
  readonly self: ReplicaSelf;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  readonly timing?: Partial<ReplicaTiming>;
  /** Called after each refresh, successful or not (the session directory retries its claims). */
  readonly onTick?: () => void | Promise<void>;
}

/**
 * This replica's row in `replicas`, refreshed every 2 s, and the liveness of the others: a row
 * seen within 10 s is alive; rows gone for 60 s are pruned (with their sessions) by whichever
 * replica notices first.
 *
 * @example
 * const registry = new ReplicaRegistry({ store: store.cluster, self: { id, name, peerAddress }, log });
 * await registry.start();
 */
export class ReplicaRegistry {
  readonly #options: ReplicaRegistryOptions;
  readonly #timing: ReplicaTiming;
  readonly #startedAt = new Date();
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  /**
   * Since when this replica's own row has been refreshed without a failure (ms; undefined while
   * the database cannot be reached). Others are judged dead only after as long as the prune
   * delay: after a database outage every replica's row is as old as the outage, and the first
   * one back must not prune the others (with their sessions) before they could write theirs.
   */
  #refreshedSince: number | undefined;
  #ticking: Promise<void> = Promise.resolve();

  constructor(options: ReplicaRegistryOptions) {
    this.#options = options;
    this.#timing = { ...replicaTiming, ...options.timing };
  }

  /** This replica. */
  get self(): ReplicaSelf {
    return this.#options.self;
  }

  /** Writes this replica's row (awaited: the others can route to it once this resolves), then refreshes it every 2 s. */
  async start(): Promise<void> {
    await this.#options.store.touchReplica({ ...this.#options.self, startedAt: this.#startedAt }, new Date());
    this.#refreshedSince = Date.now();
    this.#timer = setInterval(() => {
      this.#ticking = this.#tick();
    }, this.#timing.touchIntervalMs);
    this.#timer.unref();
  }

  /** Whether a replica row was refreshed within the last 10 s. */
  isAlive(record: Pick<ReplicaRecord, "seenAt">, now = Date.now()): boolean {
    return now - record.seenAt.getTime() <= this.#timing.aliveMs;
  }

  /** A replica's row (this one's included), or null when it is unknown or was pruned. */
  get(id: string): Promise<ReplicaRecord | null> {
    return this.#options.store.getReplica(id);
  }

  /** Stops refreshing (the row stays and ages out, as a killed replica's would). */
  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#timer);
    await this.#ticking;
  }

  async #tick(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const now = new Date();
    try {
      await this.#options.store.touchReplica({ ...this.#options.self, startedAt: this.#startedAt }, now);
      if (this.#failing) this.#options.log("info", "replica registry: this replica's row is refreshed again");
      this.#failing = false;
      this.#refreshedSince ??= now.getTime();
      if (now.getTime() - this.#refreshedSince >= this.#timing.pruneAfterMs) {
        const pruned = await this.#options.store.pruneReplicas(new Date(now.getTime() - this.#timing.pruneAfterMs));
        if (pruned > 0) this.#options.log("info", `replica registry: removed ${pruned} replica(s) not seen for ${this.#timing.pruneAfterMs / 1000} s, with their sessions`);
      }
    } catch (error) {
      this.#refreshedSince = undefined;
      // Said once per outage: the store logs its own failures, and this repeats every 2 s.
      if (!this.#failing) this.#options.log("warn", `replica registry: could not refresh this replica's row (the others will take it for dead after ${this.#timing.aliveMs / 1000} s): ${(error as Error).message}`);
      this.#failing = true;
    }
    try {
      await this.#options.onTick?.();
    } catch (error) {
      this.#options.log("warn", `replica registry: ${(error as Error).message}`);
    }
  }
}
