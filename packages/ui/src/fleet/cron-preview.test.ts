import { describe, expect, it } from "vitest";
import { formatRunUtc, previewCron } from "./cron-preview.ts";

const from = new Date("2026-01-01T12:00:00Z");

describe("previewCron", () => {
  it("lists the next runs in UTC", () => {
    const preview = previewCron("0 3 * * *", { count: 3, from });
    expect(preview).toEqual({ ok: true, runs: [new Date("2026-01-02T03:00:00Z"), new Date("2026-01-03T03:00:00Z"), new Date("2026-01-04T03:00:00Z")] });
  });

  it("shows a single run for a job that is not recurring", () => {
    const preview = previewCron("*/15 * * * *", { count: 5, from, recurring: false });
    expect(preview).toEqual({ ok: true, runs: [new Date("2026-01-01T12:15:00Z")] });
  });

  it("refuses what is not five fields, naming the count", () => {
    expect(previewCron("* * * *", { from })).toEqual({ ok: false, error: "Five fields are expected (minute hour day-of-month month day-of-week), not 4." });
    // Six fields would be seconds to croner: the server and the agent take five.
    expect(previewCron("0 0 3 * * *", { from })).toEqual({ ok: false, error: "Five fields are expected (minute hour day-of-month month day-of-week), not 6." });
  });

  it("says why an expression is invalid", () => {
    const preview = previewCron("61 * * * *", { from });
    expect(preview.ok).toBe(false);
    expect(preview.ok ? "" : preview.error).toMatch(/minute|61|range/i);
    expect(previewCron("", { from })).toEqual({ ok: false, error: "Enter a cron expression: minute hour day-of-month month day-of-week (UTC)." });
    expect(previewCron(`${"1 ".repeat(70)}`, { from })).toEqual({ ok: false, error: "At most 128 characters." });
  });

  it("formats a run in UTC with its weekday", () => {
    expect(formatRunUtc(new Date("2026-01-02T03:00:00Z"))).toBe("Fri 2026-01-02 03:00 UTC");
  });
});
