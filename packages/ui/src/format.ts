/** How the UI writes dates, durations and sizes. */

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });
const date = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium" });

/** `12 Mar 2026, 14:03`, or "never" for a missing date. */
export function formatDateTime(value: Date | string | number | null | undefined): string {
  if (value === null || value === undefined || value === "" || value === 0) return "never";
  return dateTime.format(new Date(value));
}

/** `12 Mar 2026`. */
export function formatDate(value: string | null): string {
  return value ? date.format(new Date(value)) : "unknown";
}

/** "12 s ago", "5 min ago", "3 h ago", "2 days ago". */
export function formatAgo(unixSeconds: number, now = Date.now()): string {
  if (unixSeconds <= 0) return "never";
  const seconds = Math.max(0, Math.round(now / 1000 - unixSeconds));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} days ago`;
}

/** Whole days from now until the date (negative once past). */
export function daysUntil(value: string, now = Date.now()): number {
  return Math.floor((new Date(value).getTime() - now) / 86_400_000);
}

/** "in 89 days", "today", "expired 3 days ago". */
export function formatExpiry(value: string, now = Date.now()): string {
  const days = daysUntil(value, now);
  if (days > 0) return `in ${days} days`;
  if (days === 0) return "today";
  return `expired ${-days} days ago`;
}

/** "1.5 GiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** The first 12 hex digits of an id or fingerprint, as Docker shows ids. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}
