import type { EdgeService } from "../edge/edge-service.ts";
import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";
import type { ReplicaRegistry } from "./replica-registry.ts";

/** How long a replica row read from the store is reused. */
const replicaCacheMs = 1_000;

/** Which replica holds a device's session, and whether it is alive (seen within 10 s). */
export interface SessionHolder {
  readonly replica: ReplicaRecord;
  readonly alive: boolean;
  /** This replica. */
  readonly local: boolean;
}

/** What the directory needs. */
export interface SessionDirectoryOptions {
  readonly store: Pick<ClusterStore, "claimSession" | "releaseSession" | "sessionOwner">;
  readonly registry: Pick<ReplicaRegistry, "self" | "get" | "isAlive">;
  /** True while this replica holds the environment's session. */
  readonly isLocal: (environmentId: number) => boolean;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * `edge_sessions`: which replica holds each device's session (docs/architecture.md "Session
 * ownership"). A session opening here claims its row, one ending releases it if the row still
 * names this replica (a newer session elsewhere may have claimed it meanwhile). Writes for one
 * device run in order; a claim the store refused is retried on each registry tick.
 *
 * @example
 * const directory = new SessionDirectory({ store: store.cluster, registry, isLocal: (id) => edge.isConnected(id), log });
 * directory.attach(edge);
 * const holder = await directory.ownerOf(7); // { replica, alive, local } or null
 */
export class SessionDirectory {
  readonly #options: SessionDirectoryOptions;
  /** The last write queued per device, so a release never overtakes its claim. */
  readonly #queue = new Map<number, Promise<void>>();
  /** Sessions held here whose claim failed (the store was unreachable). */
  readonly #unclaimed = new Set<number>();
  /** Replica rows read within the last second: a row changes every 2 s, a replica rarely. */
  readonly #replicas = new Map<string, { readonly record: ReplicaRecord | null; readonly at: number }>();

  constructor(options: SessionDirectoryOptions) {
    this.#options = options;
  }

  /** Claims and releases as the edge service's sessions open and close; returns the detach. */
  attach(edge: Pick<EdgeService, "onSessionOpened" | "onSessionClosed">): () => void {
    const opened = edge.onSessionOpened((environmentId) => this.claim(environmentId));
    const closed = edge.onSessionClosed((environmentId) => this.release(environmentId));
    return () => {
      opened();
      closed();
    };
  }

  /** Records that this replica holds the device's session. */
  claim(environmentId: number): void {
    this.#unclaimed.delete(environmentId);
    this.#enqueue(environmentId, async () => {
      try {
        await this.#options.store.claimSession(environmentId, this.#options.registry.self.id, new Date());
      } catch (error) {
        // Without the row the other replicas cannot route to this device: retried every tick.
        if (this.#options.isLocal(environmentId)) this.#unclaimed.add(environmentId);
        this.#options.log("warn", `session directory: could not record that this replica holds environment ${environmentId}'s session (retrying): ${(error as Error).message}`);
      }
    });
  }

  /** Releases the device's row if it still names this replica. */
  release(environmentId: number): void {
    this.#unclaimed.delete(environmentId);
    this.#enqueue(environmentId, async () => {
      try {
        await this.#options.store.releaseSession(environmentId, this.#options.registry.self.id);
      } catch (error) {
        // A stale row is harmless: callers find this replica without the session (404) and say so.
        this.#options.log("warn", `session directory: could not release environment ${environmentId}'s session row: ${(error as Error).message}`);
      }
    });
  }

  /** Claims again what failed to be claimed (the registry calls it every tick). */
  retryClaims(): void {
    for (const environmentId of [...this.#unclaimed]) {
      if (this.#options.isLocal(environmentId)) this.claim(environmentId);
      else this.#unclaimed.delete(environmentId);
    }
  }

  /**
   * The replica holding the device's session: this one when it does, else the one its row
   * names (alive or not), or null when no replica holds it.
   */
  async ownerOf(environmentId: number): Promise<SessionHolder | null> {
    const { registry } = this.#options;
    if (this.#options.isLocal(environmentId)) {
      const now = new Date();
      return { replica: { ...registry.self, startedAt: now, seenAt: now }, alive: true, local: true };
    }
    const owner = await this.#options.store.sessionOwner(environmentId);
    // A row naming this replica without a session here is stale (a release that failed).
    if (!owner || owner.replicaId === registry.self.id) return null;
    const replica = await this.#replica(owner.replicaId);
    if (!replica) return null;
    return { replica, alive: registry.isAlive(replica), local: false };
  }

  async #replica(id: string): Promise<ReplicaRecord | null> {
    const known = this.#replicas.get(id);
    if (known && Date.now() - known.at < replicaCacheMs) return known.record;
    const record = await this.#options.registry.get(id);
    // Bounded by the number of replicas, which the registry prunes; start over if it grows odd.
    if (this.#replicas.size > 1_000) this.#replicas.clear();
    this.#replicas.set(id, { record, at: Date.now() });
    return record;
  }

  /** Waits for the queued writes (before the store closes). */
  async close(): Promise<void> {
    await Promise.all([...this.#queue.values()]);
  }

  #enqueue(environmentId: number, write: () => Promise<void>): void {
    const next = (this.#queue.get(environmentId) ?? Promise.resolve()).then(write);
    this.#queue.set(environmentId, next);
    void next.finally(() => {
      if (this.#queue.get(environmentId) === next) this.#queue.delete(environmentId);
    });
  }
}
