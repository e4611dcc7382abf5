import { currentLocale, i18n } from "./i18n/index.ts";

/** How the UI writes dates, durations, numbers and sizes: in the UI's language (`i18n/`). */

const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>();

// One formatter per language and style, made on first use (they are slow to make).
function cached<F extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>(key: string, make: (locale: string) => F): F {
  const locale = currentLocale();
  const id = `${locale} ${key}`;
  let formatter = formatters.get(id) as F | undefined;
  if (!formatter) {
    formatter = make(locale);
    formatters.set(id, formatter);
  }
  return formatter;
}

// English as Pier always wrote it (`12 Mar 2026, 14:03`); other languages as their locale does.
const dateLocale = (locale: string) => (locale === "en" ? "en-GB" : locale);

/** `12 Mar 2026, 14:03` (`2026年3月12日 14:03`), or "never" for a missing date. */
export function formatDateTime(value: Date | string | number | null | undefined): string {
  if (value === null || value === undefined || value === "" || value === 0) return i18n.t("values.never");
  return cached("dateTime", (locale) => new Intl.DateTimeFormat(dateLocale(locale), { dateStyle: "medium", timeStyle: "short" })).format(new Date(value));
}

/** `12 Mar 2026` (`2026年3月12日`), or "unknown". */
export function formatDate(value: string | null): string {
  return value ? cached("date", (locale) => new Intl.DateTimeFormat(dateLocale(locale), { dateStyle: "medium" })).format(new Date(value)) : i18n.t("values.unknown");
}

/** `1,234` (grouped as the language groups). */
export function formatNumber(value: number): string {
  return cached("number", (locale) => new Intl.NumberFormat(locale)).format(value);
}

/** "12 sec. ago", "5 min. ago", "3 hr. ago", "2 days ago" ("5分钟前"), or "never". */
export function formatAgo(unixSeconds: number, now = Date.now()): string {
  if (unixSeconds <= 0) return i18n.t("values.never");
  const seconds = Math.max(0, Math.round(now / 1000 - unixSeconds));
  const relative = cached("ago", (locale) => new Intl.RelativeTimeFormat(locale, { numeric: "always", style: "short" }));
  if (seconds < 60) return relative.format(-seconds, "second");
  if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86_400) return relative.format(-Math.floor(seconds / 3600), "hour");
  return relative.format(-Math.floor(seconds / 86_400), "day");
}

/** Whole days from now until the date (negative once past). */
export function daysUntil(value: string, now = Date.now()): number {
  return Math.floor((new Date(value).getTime() - now) / 86_400_000);
}

/** "in 89 days", "today", "expired 3 days ago". */
export function formatExpiry(value: string, now = Date.now()): string {
  const days = daysUntil(value, now);
  if (days > 0) return i18n.t("values.inDays", { count: days });
  if (days === 0) return i18n.t("values.today");
  return i18n.t("values.expiredDaysAgo", { count: -days });
}

/** "1.5 GiB" (units are the same in every language). */
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
