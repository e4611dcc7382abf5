/** Reconnect delays: exponential from 1 s, capped at 60 s, with jitter. */
export const backoff = { baseMs: 1000, capMs: 60_000 } as const;

/** "Equal jitter": half the exponential delay plus a random part, so fleets do not reconnect in step. */
export function backoffDelay(attempt: number, random = Math.random): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + random() * (ceiling / 2);
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
