/** Renewals the server issues per second across the fleet unless `--renewal-rate` says otherwise. */
export const defaultRenewalsPerSecond = 50;

/**
 * Renewals one device may obtain within a third of its certificate's lifetime: an agent renews
 * once per ⅔ lifetime, so three leaves room for a retry after a crash or a requested renewal
 * while a looping agent cannot keep the CA busy.
 */
export const renewalsPerDeviceWindow = 3;

/** Options of `RenewalThrottle`. */
export interface RenewalThrottleOptions {
  /** Issuances per second across the fleet (a burst of one second's worth is allowed). */
  readonly renewalsPerSecond: number;
  /** The clock, in milliseconds (default `Date.now`); tests pass their own. */
  readonly now?: () => number;
  /** A number in [0, 1) (default `Math.random`); tests pass their own. */
  readonly random?: () => number;
}

/** The answer to one renewal request. */
export type RenewalDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Which limit refused it. */
      readonly limit: "fleet" | "device";
      /** Whole seconds (≥ 1) until the device should ask again (`Retry-After`). */
      readonly retryAfterSeconds: number;
      /** Devices told to come back that have not yet (fleet limit), for the message. */
      readonly backlog: number;
    };

/** How long past its appointed time a refused device still counts in the backlog. */
const backlogGraceMs = 30_000;
/** Full sweeps of the per-device history happen at most this often. */
const sweepIntervalMs = 10_000;

/**
 * Spreads certificate renewals (docs/identity.md, "Renewal"). A token bucket caps issuances at
 * `renewalsPerSecond` across the fleet; a device may renew at most `renewalsPerDeviceWindow`
 * times per third of its lifetime. A refused device is told to retry at a random second within
 * the time the current backlog takes to drain at that rate (`Retry-After`), so a fleet whose
 * certificates were all issued the same minute comes back spread over minutes instead of
 * hammering the server in lock step. Memory: one entry per device that renewed or waits, swept.
 *
 * @example
 * const throttle = new RenewalThrottle({ renewalsPerSecond: 50 });
 * const decision = throttle.take(String(environment.id), 30 * 86_400);
 * if (!decision.allowed) throw new ServerError("too_many_requests", "…", { details: { retryAfterSeconds: decision.retryAfterSeconds } });
 */
export class RenewalThrottle {
  readonly #rate: number;
  readonly #now: () => number;
  readonly #random: () => number;
  #tokens: number;
  #refilledAt: number;
  /** Devices refused by the fleet limit, with the time they were told to come back. */
  readonly #waiting = new Map<string, number>();
  /** Recent issuance times of each device, oldest first, with that device's window. */
  readonly #recent = new Map<string, { times: number[]; windowMs: number }>();
  #sweptAt: number;

  constructor(options: RenewalThrottleOptions) {
    if (!(Number.isFinite(options.renewalsPerSecond) && options.renewalsPerSecond > 0)) throw new RangeError("renewalsPerSecond must be a positive number.");
    this.#rate = options.renewalsPerSecond;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#tokens = Math.max(1, this.#rate);
    this.#refilledAt = this.#now();
    this.#sweptAt = this.#refilledAt;
  }

  /** The fleet-wide rate, renewals per second. */
  get renewalsPerSecond(): number {
    return this.#rate;
  }

  /**
   * Spends one renewal for `device` (its environment id) if both limits allow it;
   * `lifetimeSeconds` is the lifetime of the certificate being renewed. `perDeviceLimit: false`
   * (a certificate from a CA the fleet is moving away from) applies the fleet limit only.
   */
  take(device: string, lifetimeSeconds: number, options: { readonly perDeviceLimit?: boolean } = {}): RenewalDecision {
    const now = this.#now();
    this.#sweep(now);
    const windowMs = Math.max(1000, (lifetimeSeconds * 1000) / 3);
    const history = this.#recent.get(device);
    const times = history ? history.times.filter((at) => now - at < windowMs) : [];
    if (options.perDeviceLimit !== false && times.length >= renewalsPerDeviceWindow) {
      const oldest = times[0] ?? now;
      return { allowed: false, limit: "device", retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)), backlog: this.#waiting.size };
    }
    this.#refill(now);
    if (this.#tokens < 1) {
      this.#waiting.delete(device);
      const backlog = this.#waiting.size + 1;
      // The backlog drains at the rate; a random second within that time spreads the retries.
      const drainSeconds = Math.max(1, Math.ceil(backlog / this.#rate));
      const retryAfterSeconds = 1 + Math.floor(this.#random() * drainSeconds);
      this.#waiting.set(device, now + retryAfterSeconds * 1000);
      return { allowed: false, limit: "fleet", retryAfterSeconds, backlog };
    }
    this.#tokens -= 1;
    this.#waiting.delete(device);
    times.push(now);
    this.#recent.set(device, { times, windowMs });
    return { allowed: true };
  }

  /** Devices refused by the fleet limit that have not come back yet. */
  get backlog(): number {
    this.#sweep(this.#now(), true);
    return this.#waiting.size;
  }

  #refill(now: number): void {
    // max(0, …): a clock stepping backwards must not take tokens away.
    const earned = (Math.max(0, now - this.#refilledAt) / 1000) * this.#rate;
    this.#tokens = Math.min(Math.max(1, this.#rate), this.#tokens + earned);
    this.#refilledAt = now;
  }

  /** Drops devices that did not come back in time and histories past their window. */
  #sweep(now: number, force = false): void {
    if (!force && now - this.#sweptAt < sweepIntervalMs) return;
    this.#sweptAt = now;
    for (const [device, at] of this.#waiting) if (now - at > backlogGraceMs) this.#waiting.delete(device);
    for (const [device, { times, windowMs }] of this.#recent) if (times.every((at) => now - at >= windowMs)) this.#recent.delete(device);
  }
}
