/** Options for `RateLimiter`. */
export interface RateLimiterOptions {
  /** Attempts allowed in a burst (the bucket's size). */
  capacity: number;
  /** One attempt comes back every this many milliseconds. */
  refillIntervalMs: number;
  /** Keys tracked at most (default 10 000); beyond, the least recently used are dropped. */
  maxKeys?: number;
  /** The clock, in milliseconds (default `Date.now`); tests pass their own. */
  now?: () => number;
}

/** The answer to one attempt. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Whole seconds until the next attempt would be allowed; 0 when allowed (for `Retry-After`). */
  retryAfterSeconds: number;
}

/** Login limits from docs/architecture.md: a burst of 5, then one attempt every 12 s (5 a minute). */
export const loginRateLimit = Object.freeze({ capacity: 5, refillIntervalMs: 12_000 });

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Token buckets keyed by string (a source address, a user name). Memory stays bounded: a bucket
 * that has refilled completely is the same as no bucket and is dropped, and past `maxKeys` the
 * least recently used bucket goes. (An attacker who can fill `maxKeys` buckets faster than they
 * refill can evict one, so size `maxKeys` well above the number of honest clients.)
 *
 * @example
 * const byAddress = new RateLimiter(loginRateLimit);
 * const decision = byAddress.take(sourceAddress);
 * if (!decision.allowed) throw new ServerError("too_many_requests", "Too many login attempts.", { details: { retryAfterSeconds: decision.retryAfterSeconds } });
 */
export class RateLimiter {
  readonly #capacity: number;
  readonly #refillIntervalMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** Map order is least recently used first: every take re-inserts its key at the end. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    this.#capacity = options.capacity;
    this.#refillIntervalMs = options.refillIntervalMs;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
    if (!(Number.isInteger(this.#capacity) && this.#capacity >= 1)) throw new RangeError("capacity must be a whole number ≥ 1.");
    if (!(this.#refillIntervalMs > 0)) throw new RangeError("refillIntervalMs must be positive.");
    if (!(Number.isInteger(this.#maxKeys) && this.#maxKeys >= 1)) throw new RangeError("maxKeys must be a whole number ≥ 1.");
  }

  /** Spends one attempt for `key` if one is left. */
  take(key: string): RateLimitDecision {
    const now = this.#now();
    this.#dropIdle(now);
    const bucket = this.#refilled(key, now);
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - bucket.tokens) * this.#refillIntervalMs) / 1000)) };
  }

  /** Forgets `key`, e.g. the user name after a successful login. */
  reset(key: string): void {
    this.#buckets.delete(key);
  }

  /** Buckets currently held (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #refilled(key: string, now: number): Bucket {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return { tokens: this.#capacity, updatedAt: now };
    // max(0, …): a clock stepping backwards must not take tokens away.
    const earned = Math.max(0, now - bucket.updatedAt) / this.#refillIntervalMs;
    return { tokens: Math.min(this.#capacity, bucket.tokens + earned), updatedAt: now };
  }

  /** Drops buckets untouched long enough to be full again; they are at the front of the map. */
  #dropIdle(now: number): void {
    const fullAfter = this.#capacity * this.#refillIntervalMs;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedAt < fullAfter) break;
      this.#buckets.delete(key);
    }
  }
}
