import { backoff, backoffDelay, healthySessionMs } from "../../packages/agent/src/backoff.ts";

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

/** Refusals after which no agent waits longer than the backoff cap (interfaces.md, "Agent"). */
const cappedCodes = new Set(["unavailable", "restarting"]);
/** Other hints (the enrollment limits) keep the agent's existing bound. */
const longestHintMs = 3_600_000;

export { backoff, healthySessionMs };

/**
 * The real agent's wait before it dials again (packages/agent `EdgeAgent.run`, issue 20's
 * admission control), for simulated agents: equal-jitter backoff of attempt n (2ⁿ⁻¹..2ⁿ s, 60 s
 * cap) after any failure; after a `refused` with `retryAfterSeconds`, at least that long, never
 * more than the cap for `unavailable`/`restarting`; after `restarting`, exactly the hint (the
 * server already spread it; the backoff without one) without advancing the attempt.
 *
 * @example
 * const { waitMs, advance } = reconnectWait(attempt, { code: "unavailable", retryAfterSeconds: 7 });
 * if (advance) attempt++;
 */
export function reconnectWait(attempt: number, refusal?: Refusal, random: () => number = Math.random): ReconnectWait {
  const hintMs = refusal?.retryAfterSeconds === undefined ? undefined : refusal.retryAfterSeconds * 1000;
  const delay = backoffDelay(attempt, random);
  if (refusal?.code === "restarting") return { waitMs: Math.min(hintMs ?? delay, backoff.capMs), advance: false };
  if (hintMs === undefined) return { waitMs: delay, advance: true };
  const bound = cappedCodes.has(refusal?.code ?? "") ? backoff.capMs : longestHintMs;
  return { waitMs: Math.min(bound, Math.max(hintMs, delay)), advance: true };
}

/**
 * Whether the backoff starts over after a session welcomed at `welcomedAt` ended at `endedAt`
 * (ms, any one clock): only a session that stayed up `healthySessionMs` (2 minutes) resets it.
 */
export function resetsBackoff(welcomedAt: number, endedAt: number): boolean {
  return endedAt - welcomedAt >= healthySessionMs;
}
