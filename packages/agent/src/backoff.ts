import { defaultCheckinIntervalSeconds, refusedCodes } from "@pier/protocol/wire";
import { maxRetryAfterMs } from "./identity/retry-after.ts";

/** Reconnect delays: exponential from 1 s, capped at 60 s, with jitter. */
export const backoff = { baseMs: 1000, capMs: 60_000 } as const;

/** "Equal jitter": half the exponential delay plus a random part, so fleets do not reconnect in step. */
export function backoffDelay(attempt: number, random = Math.random): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * How long a session must have stayed up, after its welcome, before the backoff starts over:
 * twice the backoff ceiling. When two devices share one identity, each takes the session back
 * after at most `capMs` (plus its handshake), so neither of their sessions lasts this long and
 * their delays climb to the ceiling instead of resetting to 1 s (the flap of issue 16). A real
 * device's session lasts hours; a device that loses one after two minutes waits 0.5–1 s. Time
 * rather than a count of acked heartbeats, because the check-in interval ranges from 1 s to an
 * hour.
 */
export const healthySessionMs = 2 * backoff.capMs;

/**
 * Whether a session that ended resets the backoff: only one that was welcomed and stayed up at
 * least `healthySessionMs`. Whatever ended a session (the server closed it, replaced it, refused
 * it, the link died), the agent waits before it dials again (`nextDial`: the backoff, or the
 * server's hint).
 *
 * @example
 * if (wasHealthy(welcomedAt === undefined ? undefined : Date.now() - welcomedAt)) attempt = 0;
 * await sleep(backoffDelay(attempt++), signal);
 */
export function wasHealthy(sessionLastedMs: number | undefined): boolean {
  return sessionLastedMs !== undefined && sessionLastedMs >= healthySessionMs;
}

/** How the last session or dial ended, as far as the wait before the next dial is concerned. */
export interface Ending {
  /** The `refused` frame's code, or the error body's code (`unavailable`, `restarting`…); absent for a failed dial or a lost link. */
  readonly code?: string;
  /** How long the server asked the agent to wait: `refused.retryAfterSeconds`, or a 429/503's `Retry-After`. */
  readonly retryAfterMs?: number;
  /**
   * The server spent nothing on it: the dial never reached it (`lostLink`), or the link died
   * under the session (`server_silent`). The next dial comes within one check-in interval.
   */
  readonly unreached?: boolean;
  /** How long the dial (or the session) that ended took: an `unreached` wait counts from its start. */
  readonly lastedMs?: number;
}

/** Socket errors of a TCP connection that never reached the server: its process, host or the path to it is down. */
const unreachedCodes: ReadonlySet<string> = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EAI_AGAIN"]);

/**
 * Whether `error` (or one of its causes) says the dial never reached the server: refused,
 * unreachable, or timed out while connecting (`syscall: "connect"`). A TLS failure, a reset
 * during the handshake or a refusal are the server's answers, and keep the full backoff.
 *
 * @example
 * lostLink(Object.assign(new Error("connect EHOSTUNREACH"), { code: "EHOSTUNREACH", syscall: "connect" })); // true
 */
export function lostLink(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const { code, syscall } = current as NodeJS.ErrnoException;
    if (code !== undefined && unreachedCodes.has(code)) return true;
    if (code === "ETIMEDOUT" && syscall === "connect") return true;
  }
  return false;
}

/** What to do before the next dial: wait `delayMs`, then dial with this backoff `attempt`. */
export interface NextDial {
  readonly delayMs: number;
  readonly attempt: number;
}

// A busy or restarting server spreads its fleet over at most the backoff cap; a larger hint
// (a server's slip) does not park a device longer than its own backoff would.
const cappedAtBackoff: ReadonlySet<string> = new Set([refusedCodes.unavailable, refusedCodes.restarting]);

/**
 * The wait before the next dial and the backoff attempt after it (docs/protocol.md
 * "Admission control and restarts"):
 * - `restarting`: the session ended on purpose and the server already spread its fleet: wait
 *   exactly the hint (at most 60 s), and the backoff does not advance;
 * - a hint otherwise: `max(hint, backoffDelay(attempt))`, at most 60 s for `unavailable` (a busy
 *   server), at most 1 h for the rest (enrollment limits); the backoff advances;
 * - no hint: `backoffDelay(attempt)`, and the backoff advances;
 * - `unreached` (no hint): the same, but at most one check-in interval (`checkinIntervalMs`, half
 *   of it random) from the start of the dial that failed (`lastedMs`: a dial that waited 3 s for
 *   ARP to fail is followed at once): a link that comes back finds the device dialling, green
 *   again within two intervals. Dials that reach no server cost it nothing; a storm when it comes
 *   back is the admission control's (busy: `unavailable` with a hint, the full backoff again).
 *
 * @example
 * const next = nextDial(attempt, { code: "unavailable", retryAfterMs: 7000 });
 * await sleep(next.delayMs, signal);
 * attempt = next.attempt;
 */
export function nextDial(attempt: number, ending: Ending, random = Math.random, checkinIntervalMs = defaultCheckinIntervalSeconds * 1000): NextDial {
  const cap = ending.code !== undefined && cappedAtBackoff.has(ending.code) ? backoff.capMs : maxRetryAfterMs;
  if (ending.code === refusedCodes.restarting) {
    return { delayMs: Math.min(cap, ending.retryAfterMs ?? backoffDelay(attempt, random)), attempt };
  }
  if (ending.unreached === true && ending.retryAfterMs === undefined) {
    // Before: a 30 s partition left the agent in a 16–32 s wait, green again up to 30 s after the link (chaos suite, partition).
    const wait = Math.min(backoffDelay(attempt, random), checkinIntervalMs / 2 + (random() * checkinIntervalMs) / 2);
    return { delayMs: Math.max(0, wait - (ending.lastedMs ?? 0)), attempt: attempt + 1 };
  }
  return { delayMs: Math.min(cap, Math.max(ending.retryAfterMs ?? 0, backoffDelay(attempt, random))), attempt: attempt + 1 };
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Waits until `at` (in steps of at most a day: timers cannot wait longer than ~24.8 days), or
 * until `signal` aborts. True when `at` was reached.
 *
 * @example
 * if (await sleepUntil(renewAt, signal)) await renew();
 */
export async function sleepUntil(at: Date, signal: AbortSignal): Promise<boolean> {
  for (let left = at.getTime() - Date.now(); left > 0 && !signal.aborted; left = at.getTime() - Date.now()) {
    await sleep(Math.min(left, 86_400_000), signal);
  }
  return !signal.aborted;
}
