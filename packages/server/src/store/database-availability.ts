import { isDatabaseUnreachable } from "./store-errors.ts";

/** Where the store logs (the server's log function). */
export type AvailabilityLog = (level: "info" | "error", message: string) => void;

/** Options of `DatabaseAvailability`. */
export interface DatabaseAvailabilityOptions {
  /** The database as the log may name it: `host:port/database`, never the password. */
  readonly where: string;
  readonly log: AvailabilityLog;
  /** Called once when the database answers again after an outage (the server flushes the check-ins that waited). */
  readonly onReachableAgain?: () => void;
  readonly now?: () => number;
}

/**
 * Whether the database answers, as the store's queries find it, said in the log once per
 * outage: one line when the first query finds it unreachable (with the cause, and what Pier does
 * meanwhile) and one when a query started after that succeeds (how long it lasted, how many
 * operations were refused). Every request, flush and tick that fails meanwhile gets the same
 * `databaseUnreachable` error; none of them needs to log it again (the chaos suite's
 * database-outage scenario counted 13 lines per replica in 11 s before this).
 *
 * @example
 * const availability = new DatabaseAvailability({ where: "db:5432/pier", log });
 * const started = Date.now();
 * try { await query(); availability.succeeded(started); } catch (error) { availability.failed(mapped); throw mapped; }
 */
export class DatabaseAvailability {
  readonly #options: DatabaseAvailabilityOptions;
  #downSince: number | undefined;
  #refused = 0;

  constructor(options: DatabaseAvailabilityOptions) {
    this.#options = options;
  }

  /** True from the first operation that found the database unreachable until one succeeds again. */
  get down(): boolean {
    return this.#downSince !== undefined;
  }

  /** An operation failed with `error` (the store's mapped error): the start of an outage is logged. */
  failed(error: unknown): void {
    if (!isDatabaseUnreachable(error)) return;
    this.#refused++;
    if (this.#downSince !== undefined) return;
    this.#downSince = this.#now();
    const cause = (error as { cause?: unknown }).cause;
    const why = cause instanceof Error ? cause.message : String(cause);
    this.#options.log(
      "error",
      `database: PostgreSQL at ${this.#options.where} cannot be reached (${why}): requests that need it answer 503 unavailable with Retry-After; agent sessions and heartbeats continue in memory and are written when it is back. Pier reconnects by itself: check that PostgreSQL runs and is reachable from this replica.`,
    );
  }

  /** An operation that started at `startedAt` (ms) succeeded: the end of an outage is logged (one started before the outage proves nothing). */
  succeeded(startedAt: number): void {
    if (this.#downSince === undefined || startedAt < this.#downSince) return;
    const seconds = ((this.#now() - this.#downSince) / 1000).toFixed(1);
    this.#options.log("info", `database: PostgreSQL at ${this.#options.where} answers again after ${seconds} s; ${this.#refused} operation(s) were refused meanwhile`);
    this.#downSince = undefined;
    this.#refused = 0;
    this.#options.onReachableAgain?.();
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
