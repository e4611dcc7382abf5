import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import type { CheckIn, EnvironmentStore } from "./store.ts";

/** Options for `HeartbeatRegistry`. */
export interface HeartbeatRegistryOptions {
  /** Where check-ins are persisted; only `recordCheckIns` is used. */
  store: Pick<EnvironmentStore, "recordCheckIns">;
  /**
   * Time between background flushes (ms, default 2000). Each writes the check-ins of devices
   * this registry has not written yet (a device that just connected shows up within it).
   */
  flushIntervalMs?: number;
  /**
   * Time between background flushes that write every pending check-in (ms, default 10,000; a
   * multiple of `flushIntervalMs` in effect). See `defaultFullFlushIntervalMs`.
   */
  fullFlushIntervalMs?: number;
  /**
   * Told about every failed flush (the entries stay dirty and are retried on the next one).
   * The registry's single place for reporting; it never throws or rejects itself.
   */
  onFlushError?: (error: unknown, pendingCount: number) => void;
  /** Check-ins per `recordCheckIns` call; the registry yields to the event loop between calls (default 500). */
  chunkSize?: number;
}

/**
 * Check-ins written per call. SQLite (node:sqlite) writes synchronously on the event loop: 20,000
 * rows in one transaction held it for 41-63 ms, 500 rows take 0.6-1.7 ms (measured on the 2-core
 * benchmark box), so a flush of a 50,000-device fleet never blocks it for more than a few ms.
 */
export const defaultCheckInChunkSize = 500;

/**
 * How often a device's check-in already written reaches the store again. The cost of a flush is
 * the table pages it rewrites, not its rows: an environment row is ~0.5 KiB, so 6,000 check-ins
 * of a 15,000-device fleet (2 s of 5 s check-ins) in arrival order touched ~450 distinct pages
 * per 500-row chunk, ~5,400 page writes (and WAL, and checkpoints) every 2 s. Written in id order
 * every 10 s, the whole fleet's rows are ~2,500 pages, each written once. The stored time then
 * lags the device by at most 10 s plus a flush, inside the heartbeat rule's 20 s of grace
 * (2 × interval + 20 s), which the environment list's filters and other replicas read.
 */
export const defaultFullFlushIntervalMs = 10_000;

/**
 * Check-in times in memory, written to the store in chunks of `chunkSize` with a turn of the
 * event loop between them, so a fleet of thousands of agents checking in every 5 s costs a few
 * transactions per interval instead of one write per check-in, and no flush holds the event loop
 * for long (docs/architecture.md, "Heartbeats"): a device's first check-in within
 * `flushIntervalMs` (2 s), later ones every `fullFlushIntervalMs` (10 s), all at shutdown.
 *
 * @example
 * const heartbeats = new HeartbeatRegistry({ store: store.environments, onFlushError: (error) => log.warn(error) });
 * heartbeats.start();
 * heartbeats.record(environment.id);                                          // on each heartbeat
 * heartbeats.lastCheckIn(environment.id, environment.lastCheckInAt);          // in API answers
 * await heartbeats.stop();                                                    // at shutdown: stops the timer, flushes
 */
export class HeartbeatRegistry implements AsyncDisposable {
  readonly #store: Pick<EnvironmentStore, "recordCheckIns">;
  readonly #flushIntervalMs: number;
  readonly #onFlushError: (error: unknown, pendingCount: number) => void;
  readonly #chunkSize: number;
  readonly #fullFlushIntervalMs: number;
  readonly #lastCheckIns = new Map<number, Date>();
  /** Ids whose in-memory time is newer than what the store has. */
  readonly #dirty = new Set<number>();
  /** Ids this registry has written at least once (the others are written at the next flush). */
  readonly #written = new Set<number>();
  /** Flushes run one after another; this is the tail of that queue (it never rejects). */
  #flushing: Promise<void> = Promise.resolve();
  #timer: { controller: AbortController; done: Promise<void> } | undefined;

  constructor(options: HeartbeatRegistryOptions) {
    this.#store = options.store;
    this.#flushIntervalMs = options.flushIntervalMs ?? 2000;
    this.#onFlushError = options.onFlushError ?? (() => {});
    this.#chunkSize = options.chunkSize ?? defaultCheckInChunkSize;
    this.#fullFlushIntervalMs = options.fullFlushIntervalMs ?? defaultFullFlushIntervalMs;
    if (!(this.#flushIntervalMs > 0)) throw new RangeError("flushIntervalMs must be positive.");
    if (!(this.#fullFlushIntervalMs > 0)) throw new RangeError("fullFlushIntervalMs must be positive.");
    if (!(Number.isInteger(this.#chunkSize) && this.#chunkSize > 0)) throw new RangeError("chunkSize must be a positive integer.");
  }

  /** Notes a check-in. Out-of-order calls never move an environment's time backwards. */
  record(environmentId: number, at: Date = new Date()): void {
    const known = this.#lastCheckIns.get(environmentId);
    if (known !== undefined && known.getTime() >= at.getTime()) return;
    this.#lastCheckIns.set(environmentId, at);
    this.#dirty.add(environmentId);
  }

  /** The freshest known check-in: memory first, else `stored` (the environment's `lastCheckInAt`). */
  lastCheckIn(environmentId: number, stored: Date | null): Date | null {
    return this.#lastCheckIns.get(environmentId) ?? stored;
  }

  /** Drops an environment (after it was deleted), so it is neither reported nor flushed again. */
  forget(environmentId: number): void {
    this.#lastCheckIns.delete(environmentId);
    this.#dirty.delete(environmentId);
    this.#written.delete(environmentId);
  }

  /** How many check-ins wait to be written. */
  get pendingCount(): number {
    return this.#dirty.size;
  }

  /** Starts the background flusher; calling it again while it runs does nothing. */
  start(): void {
    if (this.#timer !== undefined) return;
    const controller = new AbortController();
    this.#timer = { controller, done: this.#flushEvery(controller.signal) };
  }

  /** Stops the background flusher, then writes what is still pending. */
  async stop(): Promise<void> {
    const timer = this.#timer;
    this.#timer = undefined;
    if (timer !== undefined) {
      timer.controller.abort();
      await timer.done;
    }
    await this.flush();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Writes every dirty entry in id order, `chunkSize` per `recordCheckIns` call (none if nothing
   * changed), yielding to the event loop between calls. Waits for a flush already under way.
   * Resolves either way; failures go to `onFlushError`.
   */
  flush(): Promise<void> {
    return this.#enqueue("all");
  }

  #enqueue(which: "all" | "unwritten"): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce(which));
    return this.#flushing;
  }

  async #flushOnce(which: "all" | "unwritten"): Promise<void> {
    if (this.#dirty.size === 0) return;
    const ids = which === "all" ? [...this.#dirty] : [...this.#dirty].filter((id) => !this.#written.has(id));
    if (ids.length === 0) return;
    // In id order, so each chunk rewrites neighbouring rows: the pages are the cost.
    ids.sort((a, b) => a - b);
    // Taken out before the write so check-ins arriving meanwhile are dirty again for the next flush.
    if (which === "all") this.#dirty.clear();
    else for (const id of ids) this.#dirty.delete(id);
    for (let offset = 0; offset < ids.length; offset += this.#chunkSize) {
      if (offset > 0) await yieldToEventLoop();
      const batch: CheckIn[] = [];
      for (const id of ids.slice(offset, offset + this.#chunkSize)) {
        // Read now, not when the flush began: a later check-in is as good, a forgotten one is skipped.
        const at = this.#lastCheckIns.get(id);
        if (at !== undefined) batch.push({ id, at });
      }
      if (batch.length === 0) continue;
      try {
        await this.#store.recordCheckIns(batch);
        for (const checkIn of batch) this.#written.add(checkIn.id);
      } catch (error) {
        // This chunk and the ones not written yet stay dirty for the next flush.
        for (const id of ids.slice(offset)) if (this.#lastCheckIns.has(id)) this.#dirty.add(id);
        try {
          this.#onFlushError(error, this.#dirty.size);
        } catch {
          // A throwing reporter must not stop the flusher.
        }
        return;
      }
    }
  }

  async #flushEvery(signal: AbortSignal): Promise<void> {
    let lastFull = performance.now();
    while (!signal.aborted) {
      try {
        // unref: a pending flush alone does not keep the process alive; stop() does the last one.
        await sleep(this.#flushIntervalMs, undefined, { signal, ref: false });
      } catch {
        return; // aborted
      }
      // Within half an interval of the full flush's time: this one is it.
      const full = performance.now() - lastFull >= this.#fullFlushIntervalMs - this.#flushIntervalMs / 2;
      if (full) lastFull = performance.now();
      await this.#enqueue(full ? "all" : "unwritten");
    }
  }
}
