import { backoff, healthySessionMs, lostLink, nextDial } from "../../packages/agent/src/backoff.ts";

/** A `refused` frame's code and retry hint (docs/protocol.md; `retryAfterSeconds` from issue 20). */
export interface Refusal {
  readonly code: string;
  readonly retryAfterSeconds?: number;
}

/** How long an agent waits before its next dial, and whether that dial counts as a new attempt. */
export interface ReconnectWait {
  readonly waitMs: number;
  /** False after `restarting`: the session ended on purpose, so the backoff does not climb. */
  readonly advance: boolean;
}

export { backoff, healthySessionMs, lostLink };

/** How the failed dial ended, beside a refusal: it never reached the server (`lostLink`), within which check-in interval. */
export interface DialFailure {
  readonly unreached?: boolean;
  readonly checkinIntervalMs?: number;
}

/**
 * The real agent's wait before it dials again, for simulated agents: the agent's own `nextDial`
 * (packages/agent/src/backoff.ts), so the benchmarks' fleet reconnects as real devices do:
 * equal-jitter backoff of attempt n (2ⁿ⁻¹..2ⁿ s, 60 s cap) after any failure; after a `refused`
 * with `retryAfterSeconds`, at least that long, never more than the cap for
 * `unavailable`/`restarting`; after `restarting`, exactly the hint (the server already spread
 * it) without advancing the attempt; after a dial that never reached the server (`failure.unreached`:
 * refused, unreachable — a killed server's closed port), at most one check-in interval.
 *
 * @example
 * const { waitMs, advance } = reconnectWait(attempt, { code: "unavailable", retryAfterSeconds: 7 });
 * if (advance) attempt++;
 */
export function reconnectWait(attempt: number, refusal?: Refusal, random: () => number = Math.random, failure: DialFailure = {}): ReconnectWait {
  const ending = {
    ...(refusal ? { code: refusal.code } : {}),
    ...(refusal?.retryAfterSeconds === undefined ? {} : { retryAfterMs: refusal.retryAfterSeconds * 1000 }),
    ...(failure.unreached === true ? { unreached: true } : {}),
  };
  const next = nextDial(attempt, ending, random, failure.checkinIntervalMs);
  return { waitMs: next.delayMs, advance: next.attempt > attempt };
}

/**
 * Whether the backoff starts over after a session welcomed at `welcomedAt` ended at `endedAt`
 * (ms, any one clock): only a session that stayed up `healthySessionMs` (2 minutes) resets it.
 */
export function resetsBackoff(welcomedAt: number, endedAt: number): boolean {
  return endedAt - welcomedAt >= healthySessionMs;
}
