import type { EdgeService } from "../edge/edge-service.ts";
import type { ClusterStore, ReplicaRecord } from "../store/cluster-store.ts";
import { isDatabaseUnreachable } from "../store/store-errors.ts";
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
  readonly store: Pick<ClusterStore, "claimSession" | "releaseSession" | "reassertSessions" | "sessionOwner" | "sessionOwners">;
  readonly registry: Pick<ReplicaRegistry, "self" | "get" | "isAlive">;
  /** True while this replica holds the environment's session. */
  readonly isLocal: (environmentId: number) => boolean;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * `edge_sessions`: which replica holds each device's session (docs/architecture.md "Session
 * ownership"). A session opening here claims its row with the time it opened, which the store
 * writes only over an older session's row (a claim landing late never hides a newer session on
 * another replica); one ending releases the row only while it names that very session. Writes
 * for one device run in order. Each registry tick re-asserts every session held here in one
 * statement, so a row lost (a failed claim, an outage, a prune while this replica was slow)
 * comes back within a tick, and releases again the rows whose release failed.
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
  /** Sessions held here, with the time each opened (what its row says). */
  readonly #held = new Map<number, Date>();
  /**
   * Sessions that ended here whose release failed (the database did not answer), with the time
   * each opened: released again every tick. Left alone, the row would name this live replica
   * for a device it no longer holds, and every other replica would count the device connected.
   */
  readonly #unreleased = new Map<number, Date>();
  /** The re-assertion running, if any (ticks do not pile up behind a slow database). */
  #reasserting: Promise<void> | undefined;
  /** Whether the last re-assertion failed (logged once per outage). */
  #reassertFailing = false;
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

  /** Records that this replica holds the device's session, opened now. */
  claim(environmentId: number): void {
    const openedAt = new Date();
    this.#held.set(environmentId, openedAt);
    this.#enqueue(environmentId, async () => {
      try {
        const claimed = await this.#options.store.claimSession(environmentId, this.#options.registry.self.id, openedAt);
        if (!claimed) this.#options.log("info", `session directory: environment ${environmentId}'s row names a newer session on another replica; this replica's session is left unrecorded (the device reconnected elsewhere)`);
      } catch (error) {
        // Without the row the other replicas cannot route to this device: the next tick's re-assertion writes it.
        // One line per device would flood the log of a fleet reconnecting during a database outage, which the store says once.
        this.#options.log(isDatabaseUnreachable(error) ? "debug" : "warn", `session directory: could not record that this replica holds environment ${environmentId}'s session (retrying): ${(error as Error).message}`);
      }
    });
  }

  /** Releases the device's row if it still names the session that ended here. */
  release(environmentId: number): void {
    const openedAt = this.#held.get(environmentId);
    if (openedAt === undefined) return;
    this.#held.delete(environmentId);
    this.#releaseRow(environmentId, openedAt);
  }

  #releaseRow(environmentId: number, openedAt: Date): void {
    this.#enqueue(environmentId, async () => {
      const retry = this.#unreleased.get(environmentId) === openedAt;
      try {
        await this.#options.store.releaseSession(environmentId, this.#options.registry.self.id, openedAt);
        if (this.#unreleased.get(environmentId) === openedAt) this.#unreleased.delete(environmentId);
      } catch (error) {
        // Routing would survive a stale row (this replica answers 404), but Pier.Connected on the
        // other replicas would not: released again on the next tick (said once per session).
        this.#unreleased.set(environmentId, openedAt);
        if (!retry) this.#options.log(isDatabaseUnreachable(error) ? "debug" : "warn", `session directory: could not release environment ${environmentId}'s session row (retrying every tick): ${(error as Error).message}`);
      }
    });
  }

  /**
   * Writes again, in one statement, the rows of every session held here that are missing or
   * name an older session (the registry calls it every tick). A session that ended while the
   * statement ran has its row released again after it.
   */
  reassert(): Promise<void> {
    for (const [environmentId, openedAt] of this.#unreleased) if (!this.#queue.has(environmentId)) this.#releaseRow(environmentId, openedAt);
    if (this.#reasserting) return this.#reasserting;
    const held = [...this.#held].filter(([environmentId]) => this.#options.isLocal(environmentId)).map(([environmentId, openedAt]) => ({ environmentId, openedAt }));
    if (held.length === 0) return Promise.resolve();
    const run = (async () => {
      try {
        const written = await this.#options.store.reassertSessions(this.#options.registry.self.id, held);
        if (this.#reassertFailing) this.#options.log("info", "session directory: the sessions held here are recorded again");
        this.#reassertFailing = false;
        const openedAt = new Map(held.map((session) => [session.environmentId, session.openedAt]));
        for (const environmentId of written) {
          const was = openedAt.get(environmentId);
          if (was === undefined) continue;
          if (this.#held.get(environmentId) !== was) this.#releaseRow(environmentId, was);
          else this.#options.log("info", `session directory: recorded again that this replica holds environment ${environmentId}'s session (its row was missing or older)`);
        }
      } catch (error) {
        if (!this.#reassertFailing) this.#options.log("warn", `session directory: could not re-assert the ${held.length} sessions held here (retrying every tick): ${(error as Error).message}`);
        this.#reassertFailing = true;
      } finally {
        this.#reasserting = undefined;
      }
    })();
    this.#reasserting = run;
    return run;
  }

  /**
   * Which of `environmentIds` have a session on a live replica: this one (memory), or another
   * one seen within `aliveMs` whose row names it (one query per 1,000 ids). Every replica
   * answers the same (`Pier.Connected`).
   */
  async connected(environmentIds: readonly number[]): Promise<Set<number>> {
    const { registry, isLocal } = this.#options;
    const found = new Set<number>();
    const elsewhere: number[] = [];
    for (const environmentId of new Set(environmentIds)) {
      if (isLocal(environmentId)) found.add(environmentId);
      else elsewhere.push(environmentId);
    }
    for (let start = 0; start < elsewhere.length; start += 1_000) {
      for (const owner of await this.#options.store.sessionOwners(elsewhere.slice(start, start + 1_000))) {
        // A row naming this replica without a session here is stale (a release that failed).
        if (owner.replicaId === registry.self.id) continue;
        const replica = await this.#replica(owner.replicaId);
        if (replica && registry.isAlive(replica)) found.add(owner.environmentId);
      }
    }
    return found;
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
    await this.#reasserting;
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
