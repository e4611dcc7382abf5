import type { ExpiryCounts } from "../../api/types.ts";

/** The windows the expiry view groups certificates into, soonest first ("now" sits between the first two). */
export const expiryBuckets = [
  { key: "Expired", label: "Expired", upToMs: 0 },
  { key: "Hour", label: "< 1 hour", upToMs: 3_600_000 },
  { key: "Day", label: "< 1 day", upToMs: 86_400_000 },
  { key: "Week", label: "< 7 days", upToMs: 7 * 86_400_000 },
  { key: "Month", label: "< 30 days", upToMs: 30 * 86_400_000 },
  { key: "Later", label: "Later", upToMs: Number.POSITIVE_INFINITY },
] as const satisfies readonly { key: keyof ExpiryCounts; label: string; upToMs: number }[];

/** One of the windows. */
export type ExpiryBucket = (typeof expiryBuckets)[number]["key"];

/**
 * The window a certificate falls in: the first whose bound its remaining time is under (a
 * certificate with 0 ms left has expired, as `X509Certificate.validTo` means "not after").
 *
 * @example
 * bucketOf("2026-01-01T00:00:30Z", Date.parse("2026-01-01T00:00:00Z")); // "Hour"
 */
export function bucketOf(notAfter: string, now = Date.now()): ExpiryBucket {
  const left = Date.parse(notAfter) - now;
  if (left <= 0) return "Expired";
  return expiryBuckets.find((bucket) => left < bucket.upToMs)?.key ?? "Later";
}

/** "42 s", "13 min", "5 h", "12 days"; for the past "expired 3 min ago". */
export function formatTimeLeft(notAfter: string, now = Date.now()): string {
  const ms = Date.parse(notAfter) - now;
  const seconds = Math.round(Math.abs(ms) / 1000);
  const text =
    seconds < 90 ? `${seconds} s` : seconds < 90 * 60 ? `${Math.round(seconds / 60)} min` : seconds < 36 * 3600 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86_400)} days`;
  return ms > 0 ? text : `expired ${text} ago`;
}

/** A certificate shown by name in the expiry view (the CA, the listeners' certificates). */
export interface NamedExpiry {
  key: string;
  label: string;
  notAfter: string;
}

/** One window's content: the count of device certificates and the named certificates in it. */
export interface BucketContent {
  key: ExpiryBucket;
  label: string;
  count: number;
  named: NamedExpiry[];
}

/**
 * Puts the server's counts of device certificates and the named certificates into the windows.
 *
 * @example
 * fillBuckets({ Expired: 0, Hour: 3, Day: 0, Week: 0, Month: 1, Later: 0 }, [{ key: "ca", label: "CA", notAfter }]);
 */
export function fillBuckets(counts: ExpiryCounts | undefined, named: NamedExpiry[], now = Date.now()): BucketContent[] {
  return expiryBuckets.map(({ key, label }) => {
    const inside = named.filter((entry) => bucketOf(entry.notAfter, now) === key).sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
    return { key, label, count: (counts?.[key] ?? 0) + inside.length, named: inside };
  });
}
