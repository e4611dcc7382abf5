/**
 * What an edge job's schedule means, in the browser: the same parser the agent schedules with
 * (croner, five fields, UTC), so the preview shows the runs the devices will make.
 */

import { Cron } from "croner";

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
  if (text === "") return { ok: false, error: "Enter a cron expression: minute hour day-of-month month day-of-week (UTC)." };
  if (text.length > maxCronLength) return { ok: false, error: `At most ${maxCronLength} characters.` };
  const fields = text.split(/\s+/).length;
  if (fields !== 5) return { ok: false, error: `Five fields are expected (minute hour day-of-month month day-of-week), not ${fields}.` };
  try {
    const cron = new Cron(text, { timezone: "UTC", mode: "5-part" });
    const count = options.recurring === false ? 1 : (options.count ?? 5);
    const runs = cron.nextRuns(count, options.from ?? new Date());
    if (runs.length === 0) return { ok: false, error: "This expression never matches a date to come." };
    return { ok: true, runs };
  } catch (failure) {
    return { ok: false, error: failure instanceof Error ? failure.message : String(failure) };
  }
}

/**
 * A run time as the preview shows it: UTC, to the minute.
 *
 * @example
 * formatRunUtc(new Date("2026-01-02T03:00:00Z")); // "Fri 2026-01-02 03:00 UTC"
 */
export function formatRunUtc(date: Date): string {
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][date.getUTCDay()] ?? "";
  return `${day} ${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 16)} UTC`;
}
