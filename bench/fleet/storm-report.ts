import type { FleetSnapshot } from "./fleet-parts.ts";
import { ReasonCounts, type LatencySamples } from "./latency-samples.ts";
import { ms } from "./report.ts";
import type { Restart } from "./fleet-phases.ts";

/** Issue 20: every agent back within 30 s of the kill. */
export const backWithinMs = 30_000;

/** Wall-clock milliseconds as seconds with one decimal, "n/a" when not a finite number. */
export const seconds = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : "n/a");

/** `p50 …, p99 …, max … ms (n=…)` of heartbeat → ack latencies. */
export function latencyLine(samples: LatencySamples): string {
  return `${percentilesLine(samples)} (n=${samples.count})`;
}

/** `p50 … ms, p99 … ms, max … ms` of `samples`. */
export function percentilesLine(samples: LatencySamples): string {
  const summary = samples.summary();
  return `p50 ${ms(summary.p50)} ms, p99 ${ms(summary.p99)} ms, max ${ms(summary.max)} ms`;
}

/** `N (a× reason; b× reason …)` of the four commonest reasons, or "none". */
export function reasonsLine(counts: ReasonCounts): string {
  return counts.total === 0
    ? "none"
    : `${counts.total} (${counts
        .entries()
        .slice(0, 4)
        .map(([reason, count]) => `${count}× ${reason}`)
        .join("; ")})`;
}

/** `after − before` of two cumulative reason tables. */
export function countsSince(before: readonly [string, number][], after: readonly [string, number][]): ReasonCounts {
  const earlier = new Map(before);
  const counts = new ReasonCounts();
  for (const [reason, count] of after) if (count > (earlier.get(reason) ?? 0)) counts.add(reason, count - (earlier.get(reason) ?? 0));
  return counts;
}

/** What the agents' reconnects did since the kill, from snapshots before it and after the storm. */
export function stormReasons(beforeKill: FleetSnapshot, afterStorm: FleetSnapshot): { lostAtKill: ReasonCounts; failures: ReasonCounts; refusedWithRetry: ReasonCounts } {
  const refusedWithRetry = new ReasonCounts();
  for (const [code, count] of afterStorm.reconnect.refusedWithRetryAfter) refusedWithRetry.add(code, count);
  return { lostAtKill: countsSince(beforeKill.lostSessions, afterStorm.lostSessions), failures: countsSince(beforeKill.connectFailures, afterStorm.connectFailures), refusedWithRetry };
}

/** The `restart` line: kill → exited, kill → listening. */
export function restartLine(restart: Restart, graceful: boolean): string {
  return `restart      ${graceful ? "SIGTERM → exited" : "kill -9 → exited"} ${seconds(restart.exitedAt - restart.killedAt)} s; kill → listening ${seconds(restart.listeningAt - restart.killedAt)} s`;
}

/** The first `agents` line: the largest wait, backoff attempt, gave-up and deadline counts. */
export function agentsLine(afterStorm: FleetSnapshot): string {
  return `agents       largest wait before a dial ${seconds(afterStorm.reconnect.largestWaitMs)} s (cap 60 s), highest backoff attempt ${afterStorm.reconnect.largestAttempt}, gave up ${afterStorm.gaveUp}, stopped by the run's deadline ${afterStorm.reconnect.stoppedAtDeadline}`;
}

/**
 * The storm targets both variants share: everyone back within 30 s (`back` the agents' times
 * from the kill, `out` those never back by `limitSeconds`), and no agent gave up or waited
 * beyond its cap.
 */
export function stormTargetLines(back: LatencySamples, out: number, limitSeconds: number, afterStorm: FleetSnapshot): string[] {
  const backMax = back.summary().max;
  return [
    "targets (issue 20)",
    `  ${out === 0 && backMax <= backWithinMs ? "met   " : "missed"}  every agent back within 30 s of the kill (${out === 0 ? `${seconds(backMax)} s` : `${out} still out at ${limitSeconds} s`})`,
    `  ${afterStorm.gaveUp === 0 && afterStorm.reconnect.largestWaitMs <= 60_000 ? "met   " : "missed"}  no agent gave up (${afterStorm.gaveUp}) or waited beyond its 60 s cap (largest ${seconds(afterStorm.reconnect.largestWaitMs)} s)`,
  ];
}
