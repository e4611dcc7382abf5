/**
 * What an edge job's schedule means, in the browser: the same parser the agent schedules with
 * (croner, five fields, UTC), so the preview shows the runs the devices will make. Its words are
 * in the UI's language (`fleet` catalog), read when the preview is made.
 */

import { Cron } from "croner";
import { formatNumber } from "../format.ts";
import { i18n } from "../i18n/index.ts";

/** The longest cron expression the server takes. */
export const maxCronLength = 128;

/** The next runs of an expression, or why it is not one. */
export type CronPreview = { ok: true; runs: Date[] } | { ok: false; error: string };

/**
 * Parses a five-field cron expression (minute hour day-of-month month day-of-week, UTC) and lists
 * its next `count` runs after `from` (one for a job that is not recurring: it runs once).
 *
 * @example
 * previewCron("0 3 * * *", { count: 2, from: new Date("2026-01-01T12:00:00Z") });
 * // { ok: true, runs: [2026-01-02T03:00Z, 2026-01-03T03:00Z] }
 */
export function previewCron(expression: string, options: { count?: number; from?: Date; recurring?: boolean } = {}): CronPreview {
  const text = expression.trim();
  if (text === "") return { ok: false, error: i18n.t("fleet:cron.empty") };
  if (text.length > maxCronLength) return { ok: false, error: i18n.t("fleet:cron.tooLong", { max: formatNumber(maxCronLength) }) };
  const fields = text.split(/\s+/).length;
  if (fields !== 5) return { ok: false, error: i18n.t("fleet:cron.fieldCount", { count: fields }) };
  try {
    const cron = new Cron(text, { timezone: "UTC", mode: "5-part" });
    const count = options.recurring === false ? 1 : (options.count ?? 5);
    const runs = cron.nextRuns(count, options.from ?? new Date());
    if (runs.length === 0) return { ok: false, error: i18n.t("fleet:cron.never") };
    return { ok: true, runs };
  } catch (failure) {
    // croner's own reason, in English (as a library's message), inside a sentence of the UI's language.
    return { ok: false, error: i18n.t("fleet:cron.invalid", { reason: failure instanceof Error ? failure.message : String(failure) }) };
  }
}

const weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/**
 * A run time as the preview shows it: UTC, to the minute, with its weekday in the UI's language.
 * Not `formatDateTime` (format.ts): that writes the browser's local time, and the schedule is UTC.
 *
 * @example
 * formatRunUtc(new Date("2026-01-02T03:00:00Z")); // "Fri 2026-01-02 03:00 UTC" ("2026-01-02 周五 03:00 UTC")
 */
export function formatRunUtc(date: Date): string {
  const iso = date.toISOString();
  return i18n.t("fleet:cron.run", { weekday: i18n.t(`fleet:cron.weekdays.${weekdays[date.getUTCDay()] ?? "sun"}`), date: iso.slice(0, 10), time: iso.slice(11, 16) });
}
