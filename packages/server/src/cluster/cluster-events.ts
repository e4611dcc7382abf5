import { randomUUID } from "node:crypto";
import { z } from "zod";

/**
 * What one replica tells the others (docs/architecture.md "Scale-out"): small facts naming what
 * changed; receivers read the rows themselves.
 */
export type ClusterEvent =
  | { type: "environment_changed"; environmentId: number }
  | { type: "environment_removed"; environmentId: number }
  | { type: "certificate_revoked"; environmentId: number | null; serial: string }
  | { type: "settings_changed" }
  | { type: "files_changed"; prefix: string }
  | { type: "login_revoked"; jti: string; expiresAt: number }
  /** The built-in CA's rotation started, rolled back or finished: replicas follow `pki_rotation` (`CaRotation.follow`). */
  | { type: "rotation_changed" }
  /** `openedAt`: ms since the epoch on the opening replica; an older session elsewhere ends, a newer one stays. */
  | { type: "session_opened"; environmentId: number; replicaId: string; sourceAddress: string; openedAt: number }
  /**
   * The desired-state versions of these environments changed (`fleet/desired-state.ts`): the
   * replica holding each session pushes `status` with the stored version. At most
   * `maxAnnouncedEnvironments` ids; `[]`: every session (re-read them all).
   */
  | { type: "desired_state_changed"; environmentIds: number[] };

/** Environments one `desired_state_changed` names at most (a larger set is split). */
export const maxAnnouncedEnvironments = 1_000;

/** A handler of cluster events; `origin` is the id of the replica that published it. */
export type ClusterEventHandler = (event: ClusterEvent, origin: string) => void | Promise<void>;

/** The events bus between replicas: in-process on SQLite, PostgreSQL LISTEN/NOTIFY with a shared database. */
export interface ClusterEvents {
  readonly replicaId: string;
  /** Runs local handlers at once (origin = this replica), then announces to the other replicas. */
  publish(event: ClusterEvent): Promise<void>;
  /** Handlers run for local and remote events; a throwing handler is logged, never fatal. */
  subscribe(handler: ClusterEventHandler): () => void;
  /** After the announcement channel came back from an outage (events may have been missed). */
  onResync(handler: () => void | Promise<void>): () => void;
  close(): Promise<void>;
}

/** Where the bus reports a failing handler or a dropped announcement. */
export type ClusterEventsLog = (level: "debug" | "info" | "warn" | "error", message: string) => void;

const id = z.number().int().positive();
const text = (max: number) => z.string().min(1).max(max);

/** The wire shape of every event, checked on arrival: another replica's payload is input like any other. */
const clusterEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("environment_changed"), environmentId: id }),
  z.strictObject({ type: z.literal("environment_removed"), environmentId: id }),
  z.strictObject({ type: z.literal("certificate_revoked"), environmentId: id.nullable(), serial: text(128) }),
  z.strictObject({ type: z.literal("settings_changed") }),
  z.strictObject({ type: z.literal("files_changed"), prefix: z.string().max(256) }),
  z.strictObject({ type: z.literal("rotation_changed") }),
  z.strictObject({ type: z.literal("login_revoked"), jti: text(256), expiresAt: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal("session_opened"), environmentId: id, replicaId: text(128), sourceAddress: z.string().max(256), openedAt: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal("desired_state_changed"), environmentIds: z.array(id).max(maxAnnouncedEnvironments) }),
]);

/**
 * Checks a value received from another replica; `undefined` when it is no known event.
 *
 * @example
 * parseClusterEvent({ type: "settings_changed" }); // { type: "settings_changed" }
 */
export function parseClusterEvent(value: unknown): ClusterEvent | undefined {
  const parsed = clusterEventSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** A new replica id: random, so a restarted process is a new replica (its old sessions are gone). */
export function newReplicaId(): string {
  return randomUUID();
}

/**
 * The handler lists and their error isolation, shared by every bus: a handler that throws (or
 * rejects) is logged and the others still run.
 */
export class ClusterEventHandlers {
  readonly #handlers = new Set<ClusterEventHandler>();
  readonly #resyncHandlers = new Set<() => void | Promise<void>>();
  readonly #log: ClusterEventsLog;

  constructor(log: ClusterEventsLog) {
    this.#log = log;
  }

  /** Adds an event handler; returns its removal. */
  subscribe(handler: ClusterEventHandler): () => void {
    this.#handlers.add(handler);
    return () => void this.#handlers.delete(handler);
  }

  /** Adds a resync handler; returns its removal. */
  onResync(handler: () => void | Promise<void>): () => void {
    this.#resyncHandlers.add(handler);
    return () => void this.#resyncHandlers.delete(handler);
  }

  /** Runs every handler for the event, concurrently; resolves once all settled. */
  async dispatch(event: ClusterEvent, origin: string): Promise<void> {
    await Promise.all(
      [...this.#handlers].map(async (handler) => {
        try {
          await handler(event, origin);
        } catch (error) {
          this.#log("error", `cluster event ${event.type} from replica ${origin}: a handler failed: ${(error as Error).message}`);
        }
      }),
    );
  }

  /** Runs every resync handler; resolves once all settled. */
  async resync(): Promise<void> {
    await Promise.all(
      [...this.#resyncHandlers].map(async (handler) => {
        try {
          await handler();
        } catch (error) {
          this.#log("error", `cluster resync: a handler failed: ${(error as Error).message}`);
        }
      }),
    );
  }

  /** Forgets every handler (on close). */
  clear(): void {
    this.#handlers.clear();
    this.#resyncHandlers.clear();
  }
}

/**
 * The bus of a single server (SQLite): events reach this process's handlers only, and the
 * channel never has an outage, so `onResync` handlers never run.
 *
 * @example
 * const events = new LocalClusterEvents();
 * events.subscribe((event) => console.log(event.type));
 * await events.publish({ type: "settings_changed" }); // logs "settings_changed"
 */
export class LocalClusterEvents implements ClusterEvents {
  readonly replicaId: string;
  readonly #handlers: ClusterEventHandlers;
  #closed = false;

  constructor(replicaId: string = newReplicaId(), options: { readonly log?: ClusterEventsLog } = {}) {
    this.replicaId = replicaId;
    this.#handlers = new ClusterEventHandlers(options.log ?? (() => {}));
  }

  async publish(event: ClusterEvent): Promise<void> {
    if (this.#closed) return;
    await this.#handlers.dispatch(event, this.replicaId);
  }

  subscribe(handler: ClusterEventHandler): () => void {
    return this.#handlers.subscribe(handler);
  }

  onResync(handler: () => void | Promise<void>): () => void {
    return this.#handlers.onResync(handler);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    return Promise.resolve();
  }
}
