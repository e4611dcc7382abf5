import { PkiError } from "./errors.ts";

const unitSeconds: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/**
 * Parses a lifetime such as `90s`, `15m`, `12h` or `30d` into whole seconds. One number and one
 * unit (s, m, h, d); anything else is refused with a PkiError naming the accepted forms.
 *
 * @example
 * parseDuration("30d"); // 2592000
 */
export function parseDuration(text: string, flag = "a duration"): number {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  const unit = unitSeconds[match?.[2] ?? ""];
  if (!match || unit === undefined) {
    throw new PkiError("invalid_argument", `${flag} must be a whole number followed by s, m, h or d (e.g. 90s, 15m, 12h, 30d), got "${text.slice(0, 40)}".`);
  }
  return Number(match[1]) * unit;
}

/**
 * Shows seconds in the largest unit that divides them: `30d`, `12h`, `90s`.
 *
 * @example
 * formatDuration(2592000); // "30d"
 */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [["d", 86_400], ["h", 3_600], ["m", 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
