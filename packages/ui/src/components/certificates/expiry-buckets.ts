import type { ExpiryCounts } from "../../api/types.ts";
import { i18n } from "../../i18n/index.ts";

/**
 * The windows the expiry view groups certificates into, soonest first ("now" sits between the
 * first two); each is named by `pki:expiry.buckets.<key>`.
 */
export const expiryBuckets = [
  { key: "Expired", upToMs: 0 },
  { key: "Hour", upToMs: 3_600_000 },
  { key: "Day", upToMs: 86_400_000 },
  { key: "Week", upToMs: 7 * 86_400_000 },
  { key: "Month", upToMs: 30 * 86_400_000 },
  { key: "Later", upToMs: Number.POSITIVE_INFINITY },
] as const satisfies readonly { key: keyof ExpiryCounts; upToMs: number }[];

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

// "42 s", "13 min", "5 h", "12 days" in the UI's language.
function duration(seconds: number): string {
  if (seconds < 90) return i18n.t("pki:timeLeft.seconds", { count: seconds });
  if (seconds < 90 * 60) return i18n.t("pki:timeLeft.minutes", { count: Math.round(seconds / 60) });
  if (seconds < 36 * 3600) return i18n.t("pki:timeLeft.hours", { count: Math.round(seconds / 3600) });
  return i18n.t("pki:timeLeft.days", { count: Math.round(seconds / 86_400) });
}

/** "42 s", "13 min", "5 h", "12 days"; for the past "expired 3 min ago" (in the UI's language, when rendered). */
export function formatTimeLeft(notAfter: string, now = Date.now()): string {
  const ms = Date.parse(notAfter) - now;
  const text = duration(Math.round(Math.abs(ms) / 1000));
  return ms > 0 ? text : i18n.t("pki:timeLeft.expired", { time: text });
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
 * Puts the server's counts of device certificates and the named certificates into the windows
 * (labelled in the UI's language: call it when rendering).
 *
 * @example
 * fillBuckets({ Expired: 0, Hour: 3, Day: 0, Week: 0, Month: 1, Later: 0 }, [{ key: "ca", label: "CA", notAfter }]);
 */
export function fillBuckets(counts: ExpiryCounts | undefined, named: NamedExpiry[], now = Date.now()): BucketContent[] {
  return expiryBuckets.map(({ key }) => {
    const inside = named.filter((entry) => bucketOf(entry.notAfter, now) === key).sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
    return { key, label: i18n.t(`pki:expiry.buckets.${key}`), count: (counts?.[key] ?? 0) + inside.length, named: inside };
  });
}
