import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { ServerError } from "../errors.ts";
import { ClusterEventHandlers, newReplicaId, parseClusterEvent, type ClusterEvent, type ClusterEventHandler, type ClusterEvents, type ClusterEventsLog } from "./cluster-events.ts";

/** The PostgreSQL channel every replica listens on. */
export const clusterEventsChannel = "pier_events";
/** Largest announcement: PostgreSQL's NOTIFY payload limit is 8000 bytes; Pier's events are a few dozen. */
export const maxAnnouncementBytes = 8000;

/**
 * Whether the listener's `attempts`-th failed reconnection is logged: the 5th, 10th, 20th, 40th…
 * (at the 5 s backoff ceiling about 25 s, 50 s, 1.6 min, 3.3 min… into an outage), so a long one
 * does not add a line every 25 s; the store says once that the database cannot be reached.
 *
 * @example
 * if (reportsReconnectAttempt(attempt + 1)) log("warn", "cluster events: still cannot reach PostgreSQL …");
 */
export function reportsReconnectAttempt(attempts: number): boolean {
  if (!Number.isInteger(attempts) || attempts < 5 || attempts % 5 !== 0) return false;
  const multiple = attempts / 5;
  return (multiple & (multiple - 1)) === 0;
}

/** Options of `PgClusterEvents.start`. */
export interface PgClusterEventsOptions {
  /** `--database-url`. */
  readonly url: string;
  readonly replicaId?: string;
  readonly log?: ClusterEventsLog;
  /** First delay before reconnecting the listener (ms, default 250), doubled up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  /** Longest delay between reconnection attempts (ms, default 5000). */
  readonly maxBackoffMs?: number;
  /** How often the listening connection is probed, so a silently dead one is noticed (ms, default 5000). */
  readonly probeIntervalMs?: number;
}

/** What may be shown of a PostgreSQL URL: host, port and database, never the password. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // As libpq (and the store) read it: no host is localhost or `?host=`, no database the user's name.
    const host = parsed.hostname || parsed.searchParams.get("host") || "localhost";
    return `${host}:${parsed.port || "5432"}/${decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username) || "postgres"}`;
  } catch {
    return "the database";
  }
}

/**
 * The events bus between replicas over PostgreSQL `LISTEN/NOTIFY` on `pier_events`
 * (docs/architecture.md "Scale-out"). A dedicated connection listens; announcements go through
 * `SELECT pg_notify(…)` on a small pool of their own. The payload is `{origin, event}` JSON;
 * a replica ignores its own (it applied them at once) and drops malformed ones with a warning.
 * The listening connection reconnects by itself (backoff 0.25 s doubling to 5 s, with jitter),
 * then runs the `onResync` handlers: NOTIFY is not delivered to a listener that was away.
 *
 * @example
 * const events = await PgClusterEvents.start({ url: config.databaseUrl, log });
 * events.subscribe((event, origin) => log("debug", `${event.type} from ${origin}`));
 * await events.publish({ type: "settings_changed" });
 */
export class PgClusterEvents implements ClusterEvents {
  readonly replicaId: string;
  readonly #url: string;
  readonly #where: string;
  readonly #log: ClusterEventsLog;
  readonly #handlers: ClusterEventHandlers;
  readonly #notifier: pg.Pool;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #probeIntervalMs: number;
  /** Stops the reconnection loop and the probe on close. */
  readonly #closing = new AbortController();
  #listener: pg.Client | undefined;
  /** Remote events run one after another, in the order PostgreSQL delivered them. */
  #remoteQueue: Promise<void> = Promise.resolve();
  #reconnecting: Promise<void> | undefined;
  #probe: NodeJS.Timeout | undefined;

  private constructor(options: PgClusterEventsOptions) {
    this.replicaId = options.replicaId ?? newReplicaId();
    this.#url = options.url;
    this.#where = describePostgresUrl(options.url);
    this.#log = options.log ?? (() => {});
    this.#handlers = new ClusterEventHandlers(this.#log);
    this.#minBackoffMs = options.minBackoffMs ?? 250;
    this.#maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.#probeIntervalMs = options.probeIntervalMs ?? 5000;
    this.#notifier = new pg.Pool({ connectionString: options.url, max: 2, application_name: "pier-events", connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    // An idle connection that drops emits "error" on the pool; the next announcement takes a fresh one.
    this.#notifier.on("error", () => undefined);
  }

  /** Connects the listener (rejects with `unavailable` when PostgreSQL cannot be reached now). */
  static async start(options: PgClusterEventsOptions): Promise<PgClusterEvents> {
    const events = new PgClusterEvents(options);
    try {
      await events.#connect();
    } catch (error) {
      await events.#notifier.end().catch(() => undefined);
      throw new ServerError("unavailable", `Cannot listen for cluster events on PostgreSQL at ${events.#where}: ${(error as Error).message}.`, { cause: error, fix: "Check --database-url (PIER_DATABASE_URL) and that PostgreSQL is running." });
    }
    events.#probe = setInterval(() => events.#probeListener(), events.#probeIntervalMs).unref();
    return events;
  }

  /** Whether the listening connection is up now (false while it reconnects). */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  async publish(event: ClusterEvent): Promise<void> {
    if (this.#closing.signal.aborted) return;
    const payload = JSON.stringify({ origin: this.replicaId, event });
    if (Buffer.byteLength(payload) > maxAnnouncementBytes) throw new ServerError("internal", `The cluster event ${event.type} is ${Buffer.byteLength(payload)} bytes; announcements hold at most ${maxAnnouncementBytes}.`);
    await this.#handlers.dispatch(event, this.replicaId);
    try {
      await this.#notifier.query("SELECT pg_notify($1, $2)", [clusterEventsChannel, payload]);
    } catch (error) {
      // The change itself is stored; replicas that miss this announcement because PostgreSQL is
      // away reconnect their listener, and resynchronise, when it is back.
      this.#log("error", `could not announce ${event.type} to the other replicas (PostgreSQL at ${this.#where}): ${(error as Error).message}`);
    }
  }

  subscribe(handler: ClusterEventHandler): () => void {
    return this.#handlers.subscribe(handler);
  }

  onResync(handler: () => void | Promise<void>): () => void {
    return this.#handlers.onResync(handler);
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    clearInterval(this.#probe);
    const listener = this.#listener;
    this.#listener = undefined;
    await Promise.all([listener?.end().catch(() => undefined), this.#notifier.end().catch(() => undefined), this.#reconnecting]);
    await this.#remoteQueue;
    this.#handlers.clear();
  }

  async #connect(): Promise<void> {
    // Named after the replica, so pg_stat_activity tells the replicas' listeners apart.
    const client = new pg.Client({ connectionString: this.#url, application_name: `pier-events ${this.replicaId}`.slice(0, 63), keepAlive: true, connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      client.removeAllListeners("notification");
      // A client that failed stays unusable; end it so its socket is released.
      client.end().catch(() => undefined);
      if (this.#listener === client) this.#listener = undefined;
      if (this.#closing.signal.aborted) return;
      this.#log("warn", `cluster events: lost the listening connection to PostgreSQL at ${this.#where}${error ? `: ${error.message}` : ""}; reconnecting`);
      this.#reconnecting ??= this.#reconnect().finally(() => (this.#reconnecting = undefined));
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (message) => {
      if (message.channel === clusterEventsChannel) this.#received(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${clusterEventsChannel}`);
    } catch (error) {
      lost = true;
      client.removeAllListeners();
      client.on("error", () => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closing.signal.aborted) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
  }

  async #reconnect(): Promise<void> {
    const signal = this.#closing.signal;
    for (let attempt = 0; !signal.aborted; attempt++) {
      const ceiling = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** attempt);
      try {
        // Full jitter over the upper half, so replicas cut off together do not return in step.
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2), undefined, { signal });
        await this.#connect();
      } catch (error) {
        if (signal.aborted) return;
        if (reportsReconnectAttempt(attempt + 1)) this.#log("warn", `cluster events: still cannot reach PostgreSQL at ${this.#where} (${attempt + 1} attempts): ${(error as Error).message}`);
        continue;
      }
      if (signal.aborted) return;
      this.#log("info", `cluster events: listening again on PostgreSQL at ${this.#where}; resynchronising`);
      // After the events that arrived before the outage, and before any that arrive after it.
      this.#remoteQueue = this.#remoteQueue.then(() => this.#handlers.resync());
      await this.#remoteQueue;
      return;
    }
  }

  #probeListener(): void {
    const client = this.#listener;
    if (client === undefined) return;
    // A failure emits "error" or the query rejects; either way onLost or the next probe notices.
    client.query("SELECT 1").catch((error: unknown) => client.emit("error", error instanceof Error ? error : new Error(String(error))));
  }

  #received(payload: string | undefined): void {
    let origin: unknown;
    let event: ClusterEvent | undefined;
    try {
      const parsed = JSON.parse(payload ?? "") as { origin?: unknown; event?: unknown } | null;
      origin = parsed?.origin;
      event = parseClusterEvent(parsed?.event);
    } catch {
      event = undefined;
    }
    if (typeof origin !== "string" || origin.length === 0 || origin.length > 128 || event === undefined) {
      this.#log("warn", `cluster events: dropped a malformed announcement on ${clusterEventsChannel} (${(payload ?? "").length} bytes)`);
      return;
    }
    if (origin === this.replicaId) return;
    const received = event;
    this.#remoteQueue = this.#remoteQueue.then(() => this.#handlers.dispatch(received, origin));
  }
}
