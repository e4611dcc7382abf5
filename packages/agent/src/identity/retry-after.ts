/** The longest `Retry-After` the agent honours; a larger one is read as this (a server's slip should not park a device for days). */
export const maxRetryAfterMs = 3600_000;

/**
 * Reads a `Retry-After` (seconds; an HTTP date is accepted too) or the error body's
 * `details.retryAfterSeconds`, in milliseconds, capped at `maxRetryAfterMs`.
 *
 * @example
 * retryAfterMs("12", "") // 12000
 */
export function retryAfterMs(header: string | undefined, body: string, now = Date.now()): number | undefined {
  let ms: number | undefined;
  const value = header?.trim();
  if (value && /^\d+$/.test(value)) ms = Number(value) * 1000;
  else if (value && !Number.isNaN(Date.parse(value))) ms = Math.max(0, Date.parse(value) - now);
  if (ms === undefined) {
    try {
      const seconds = (JSON.parse(body) as { details?: { retryAfterSeconds?: unknown } } | null)?.details?.retryAfterSeconds;
      if (typeof seconds === "number" && Number.isFinite(seconds) && seconds >= 0) ms = seconds * 1000;
    } catch {
      // not JSON
    }
  }
  return ms === undefined ? undefined : Math.min(ms, maxRetryAfterMs);
}

