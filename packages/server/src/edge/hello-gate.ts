import { ServerError } from "../errors.ts";

/** How many hellos the server handles at once, and how many may wait for their turn. */
export interface HelloGateOptions {
  /** Hellos handled at once (the store work of a hello: reads, a write when something changed). */
  readonly maxConcurrent: number;
  /** Hellos waiting for a turn; past it a hello is refused `unavailable` with a retry delay. */
  readonly maxQueued: number;
}

/**
 * 32 hellos at once keep the store busy without a thousand of them contending for it at a
 * restart; 2,000 waiting are a few seconds of work. The rest are told when to come back
 * rather than left to time out together (issue 20: the reconnect storm).
 */
export const defaultHelloGate: HelloGateOptions = Object.freeze({ maxConcurrent: 32, maxQueued: 2_000 });

/** The longest `retryAfterSeconds` a busy server asks for: an agent's own backoff cap. */
export const maxBusyRetrySeconds = 60;

// Hellos completed in the last `rateWindowSeconds`, one bucket per second: the rate the queue drains at.
const rateWindowSeconds = 10;

interface Waiter {
  readonly start: () => void;
}

/**
 * Admits hellos (session and polling check-in alike, known devices and new ones) at most
 * `maxConcurrent` at once, the next `maxQueued` in order of arrival; past that a hello is
 * refused at once with `ServerError("unavailable")` whose `details.retryAfterSeconds` is spread
 * at random over 1 … ceil(backlog / measured hello rate), at most 60 s: the session answers it
 * as `refused {code: "unavailable", retryAfterSeconds}`, the check-in as 503 + `Retry-After`.
 *
 * @example
 * const gate = new HelloGate({ maxConcurrent: 32, maxQueued: 2_000 });
 * const { welcome } = await gate.run(() => edge.hello(hello, connection), stream.signal);
 */
export class HelloGate {
  readonly #options: HelloGateOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  // A Set keeps insertion order and deletes in O(1): a FIFO an abandoned hello can leave.
  readonly #queue = new Set<Waiter>();
  #running = 0;
  readonly #completed = new Array<number>(rateWindowSeconds).fill(0);
  #bucketSecond = 0;
  readonly #startedAt: number;

  constructor(options: HelloGateOptions = defaultHelloGate, clock: { random?: () => number; now?: () => number } = {}) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || (value as number) < (name === "maxQueued" ? 0 : 1)) throw new RangeError(`${name} must be a whole number ≥ ${name === "maxQueued" ? 0 : 1}.`);
    }
    this.#options = options;
    this.#random = clock.random ?? Math.random;
    this.#now = clock.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#bucketSecond = Math.floor(this.#startedAt / 1000);
  }

  /** Hellos being handled now. */
  get running(): number {
    return this.#running;
  }

  /** Hellos waiting for a turn. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Runs `task` when a turn is free (at once, or after the hellos ahead of it). Rejects with
   * `unavailable` and a retry delay when the queue is full, and with `unavailable` (no work
   * done) when `signal` aborts while the hello still waits: the device went away.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#running >= this.#options.maxConcurrent) await this.#wait(signal);
    else this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#count();
      this.#next();
    }
  }

  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#queue.size >= this.#options.maxQueued) return Promise.reject(this.#busy());
    if (signal?.aborted) return Promise.reject(gone());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#queue.delete(waiter)) return;
        reject(gone());
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      this.#queue.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #next(): void {
    if (this.#running >= this.#options.maxConcurrent) return;
    const next = this.#queue.values().next();
    if (next.done) return;
    this.#queue.delete(next.value);
    this.#running++;
    next.value.start();
  }

  #busy(): ServerError {
    const backlog = this.#running + this.#queue.size;
    const spread = Math.min(maxBusyRetrySeconds, Math.max(1, Math.ceil(backlog / this.#rate())));
    const retryAfterSeconds = 1 + Math.floor(this.#random() * spread);
    return new ServerError("unavailable", `The server is busy admitting ${backlog} other devices; retry in ${retryAfterSeconds} s.`, {
      fix: `Nothing to do: the agent comes back in ${retryAfterSeconds} s by itself. If this lasts, the server is undersized for the fleet (or raise pier server --max-concurrent-hellos).`,
      details: { retryAfterSeconds },
    });
  }

  /** Hellos completed per second over the last 10 s (since start, if younger); at least 1, so a stalled store asks for the longest wait. */
  #rate(): number {
    this.#advance();
    const total = this.#completed.reduce((sum, count) => sum + count, 0);
    const seconds = Math.min(rateWindowSeconds, Math.max(1, (this.#now() - this.#startedAt) / 1000));
    return Math.max(1, total / seconds);
  }

  #count(): void {
    this.#advance();
    const bucket = this.#bucketSecond % rateWindowSeconds;
    this.#completed[bucket] = (this.#completed[bucket] ?? 0) + 1;
  }

  /** Empties the buckets of the seconds that passed since the last count. */
  #advance(): void {
    const second = Math.floor(this.#now() / 1000);
    for (let s = Math.max(this.#bucketSecond + 1, second - rateWindowSeconds + 1); s <= second; s++) this.#completed[s % rateWindowSeconds] = 0;
    if (second > this.#bucketSecond) this.#bucketSecond = second;
  }
}

function gone(): ServerError {
  return new ServerError("unavailable", "The device went away while its hello waited for its turn; nothing was done.");
}
