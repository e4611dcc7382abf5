import { sourceKey } from "../net/source-key.ts";
import { RateLimiter, type RateLimitDecision } from "./rate-limiter.ts";

/** Limits of `LoginThrottle`; see `loginThrottleDefaults`. */
export interface LoginThrottleOptions {
  /** Per client (IPv4 address, IPv6 /64): a burst, then one attempt per interval; over it, 429. */
  readonly perSource: { readonly capacity: number; readonly refillIntervalMs: number };
  /** Per user name (any name typed, existing or not), except from that user's known addresses. */
  readonly perUser: { readonly capacity: number; readonly refillIntervalMs: number };
  /** How long a client that logged in as a user stays known for that user. */
  readonly knownSourceLifetimeMs: number;
  /** Known clients kept per user (the most recent); older ones are forgotten. */
  readonly knownSourcesPerUser: number;
  /** Users with known clients kept at most, and buckets per limiter (memory stays bounded). */
  readonly maxKeys: number;
  /** The clock, in milliseconds (default `Date.now`); tests pass their own. */
  readonly now?: () => number;
}

/** Defaults (docs/security.md, "First administrator and logins"). */
export const loginThrottleDefaults: Readonly<LoginThrottleOptions> = Object.freeze({
  perSource: Object.freeze({ capacity: 5, refillIntervalMs: 12_000 }),
  perUser: Object.freeze({ capacity: 5, refillIntervalMs: 12_000 }),
  knownSourceLifetimeMs: 30 * 24 * 3600_000,
  knownSourcesPerUser: 16,
  maxKeys: 10_000,
});

/** The answer to one login attempt; `limitedBy` says which limit refused it. */
export interface LoginAdmission extends RateLimitDecision {
  readonly limitedBy?: "source" | "user";
}

/**
 * Login limits that do not let an attacker lock the real user out (issue 16). Every attempt
 * spends from its client's bucket (per IPv4 address or IPv6 /64). Attempts also spend from the
 * typed user name's bucket, which slows guessing one account from many addresses, except when
 * the client is one that logged in successfully as that user before: the real administrator's
 * usual address keeps working while someone elsewhere guesses `admin`. Known clients are kept in
 * memory (a restart forgets them), at most `knownSourcesPerUser` per user.
 *
 * @example
 * const decision = throttle.admit(remoteAddress, body.Username);
 * if (!decision.allowed) return tooManyAttempts(decision.retryAfterSeconds);
 * if (passwordCorrect) throttle.succeeded(remoteAddress, body.Username);
 */
export class LoginThrottle {
  readonly #perSource: RateLimiter;
  readonly #perUser: RateLimiter;
  readonly #options: LoginThrottleOptions;
  readonly #now: () => number;
  /** User name (lower case) → client key → time of the last successful login; LRU order. */
  readonly #known = new Map<string, Map<string, number>>();

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.#options = { ...loginThrottleDefaults, ...options };
    this.#now = options.now ?? Date.now;
    const { maxKeys } = this.#options;
    this.#perSource = new RateLimiter({ ...this.#options.perSource, maxKeys, now: this.#now });
    this.#perUser = new RateLimiter({ ...this.#options.perUser, maxKeys, now: this.#now });
  }

  /** Spends one attempt of `address`'s client and, unless that client is known for it, of `username`. */
  admit(address: string, username: string): LoginAdmission {
    const client = sourceKey(address);
    const bySource = this.#perSource.take(client);
    if (!bySource.allowed) return { ...bySource, limitedBy: "source" };
    if (this.#isKnown(client, username)) return bySource;
    const byUser = this.#perUser.take(username.toLowerCase());
    return byUser.allowed ? byUser : { ...byUser, limitedBy: "user" };
  }

  /** Records a successful login: `address`'s client is known for `username` from now on. */
  succeeded(address: string, username: string): void {
    const user = username.toLowerCase();
    const clients = this.#known.get(user) ?? new Map<string, number>();
    this.#known.delete(user);
    this.#known.set(user, clients);
    const client = sourceKey(address);
    clients.delete(client);
    clients.set(client, this.#now());
    if (clients.size > this.#options.knownSourcesPerUser) clients.delete(clients.keys().next().value ?? client);
    if (this.#known.size > this.#options.maxKeys) this.#known.delete(this.#known.keys().next().value ?? user);
  }

  #isKnown(client: string, username: string): boolean {
    const at = this.#known.get(username.toLowerCase())?.get(client);
    return at !== undefined && this.#now() - at < this.#options.knownSourceLifetimeMs;
  }
}
