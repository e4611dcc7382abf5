import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";

/** The rule sets axe-core checks: WCAG 2.0/2.1 levels A and AA, and Deque's best practices. */
export const axeRuleSets = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/** One axe-core rule a screen breaks, and where. */
export interface AxeViolation {
  /** The rule's id (`color-contrast`, `label`, …; its page is `helpUrl`). */
  readonly id: string;
  readonly impact: string | null;
  /** What the rule asks for, in axe's words. */
  readonly help: string;
  readonly helpUrl: string;
  /** The failing elements: CSS selector and axe's summary of what to fix on each. */
  readonly nodes: { readonly target: string; readonly html: string; readonly summary: string }[];
}

let axeSource: string | undefined;

/** axe-core's browser build, read once from node_modules. */
function readAxeSource(): string {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  return axeSource;
}

// Whether every notification on screen is drawn whole (none fading in or out).
const notificationsOpaque = `[...document.querySelectorAll(".mantine-Notifications-root *")].every((element) => getComputedStyle(element).opacity === "1")`;

/**
 * Waits (at most 2 s) until no notification is fading in or out: axe measures a fading one's
 * contrast against the page (1.8:1 for a toast half drawn), which no user reads.
 */
async function notificationsSettled(page: Page): Promise<void> {
  for (let waited = 0; waited < 2000 && !(await page.evaluate<boolean>(notificationsOpaque)); waited += 100) await page.waitForTimeout(100);
}

/**
 * Runs axe-core on the page's whole document with {@link axeRuleSets} and returns what it
 * reports. The source goes in with `page.evaluate` (DevTools protocol), which the UI's
 * Content-Security-Policy (`script-src 'self'`) does not apply to, so the page is tested with its
 * real policy in force.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await notificationsSettled(page);
  if (!(await page.evaluate("typeof window.axe === 'object'"))) await page.evaluate(`${readAxeSource()}\n;undefined`);
  const script = `window.axe.run(document, { runOnly: { type: "tag", values: ${JSON.stringify(axeRuleSets)} }, resultTypes: ["violations"] }).then((results) =>
    results.violations.map((rule) => ({
      id: rule.id, impact: rule.impact ?? null, help: rule.help, helpUrl: rule.helpUrl,
      nodes: rule.nodes.map((node) => ({ target: node.target.join(" "), html: node.html.slice(0, 200), summary: node.failureSummary ?? "" })),
    })))`;
  return page.evaluate<AxeViolation[]>(script);
}

/** A violation list as lines a failing test prints: rule, impact, help, then each element. */
export function describeViolations(screen: string, violations: readonly AxeViolation[]): string {
  const lines = [`axe-core: ${violations.length} rule(s) broken on ${screen}:`];
  for (const violation of violations) {
    lines.push(`- ${violation.id} (${violation.impact ?? "no impact"}): ${violation.help} <${violation.helpUrl}>`);
    for (const node of violation.nodes) lines.push(`    ${node.target}  ${node.html}\n      ${node.summary.replaceAll("\n", "\n      ")}`);
  }
  return lines.join("\n");
}
