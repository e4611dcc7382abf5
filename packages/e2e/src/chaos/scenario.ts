/**
 * The chaos suite's common shape (docs/chaos.md): a scenario produces one fault for real against
 * real processes, measures what a user would see, and returns a report of figures and checks.
 * `npm run chaos` prints one line per report; each `packages/e2e/test/chaos-*.test.ts` runs the
 * short version of one scenario and fails on any check that did not hold.
 */

/** One measured figure: time to detect, time to recover, operations acknowledged, found afterwards. */
export interface ChaosFigure {
  readonly name: string;
  readonly value: number;
  readonly unit: "ms" | "s" | "" | "%";
}

/** One property the scenario promises (nothing acknowledged lost, a clear error, …) and whether it held. */
export interface ChaosCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What was seen when it did not hold (or, when it did, what proves it). */
  readonly detail?: string;
}

/** What one run of a scenario found. */
export interface ChaosReport {
  readonly scenario: string;
  readonly short: boolean;
  readonly figures: readonly ChaosFigure[];
  readonly checks: readonly ChaosCheck[];
  /** Wall time of the whole run, set-up included, ms. */
  readonly elapsedMs: number;
}

/** How a scenario is run. */
export interface ChaosOptions {
  /** CI's version: fewer agents, shorter faults; the same checks. */
  readonly short: boolean;
  /** Progress lines for a person watching (`npm run chaos` prints them indented; tests drop them). */
  readonly log: (line: string) => void;
}

/** A fault the suite can produce. */
export interface ChaosScenario {
  /** Short, stable, kebab-case: `partition`, `server-crash`, … (the test file is `chaos-<name>.test.ts`). */
  readonly name: string;
  /** One sentence: the fault and what must hold. */
  readonly summary: string;
  /** Produces the fault and measures; throws only when it could not be set up (a failed check is a report, not an exception). */
  run(options: ChaosOptions, recorder: ChaosRecorder): Promise<void>;
}

/** Collects a scenario's figures and checks as it goes. */
export class ChaosRecorder {
  readonly #figures: ChaosFigure[] = [];
  readonly #checks: ChaosCheck[] = [];

  /** Records a figure (the same name twice keeps both, in order). */
  figure(name: string, value: number, unit: ChaosFigure["unit"] = ""): number {
    this.#figures.push({ name, value, unit });
    return value;
  }

  /** Records a check; returns `ok` so a scenario can stop early on a broken precondition. */
  check(name: string, ok: boolean, detail?: string): boolean {
    this.#checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
    return ok;
  }

  /** Records how long `action` took as figure `name` (ms), and returns its value. */
  async timed<T>(name: string, action: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const value = await action();
    this.figure(name, Math.round(performance.now() - started), "ms");
    return value;
  }

  get figures(): readonly ChaosFigure[] {
    return this.#figures;
  }

  get checks(): readonly ChaosCheck[] {
    return this.#checks;
  }
}

/**
 * Runs `scenario` and returns its report. A scenario that throws (could not set up, or a step
 * failed outright) is reported as the failed check "ran to the end", with the error.
 */
export async function runChaosScenario(scenario: ChaosScenario, options: ChaosOptions): Promise<ChaosReport> {
  const recorder = new ChaosRecorder();
  const started = performance.now();
  try {
    await scenario.run(options, recorder);
  } catch (error) {
    recorder.check("ran to the end", false, error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  if (recorder.checks.length === 0) recorder.check("checked something", false, "the scenario recorded no check");
  return { scenario: scenario.name, short: options.short, figures: recorder.figures, checks: recorder.checks, elapsedMs: Math.round(performance.now() - started) };
}

/** True when every check held. */
export function chaosPassed(report: ChaosReport): boolean {
  return report.checks.every((check) => check.ok);
}

function formatFigure(figure: ChaosFigure): string {
  if (figure.unit === "ms" && figure.value >= 10_000) return `${figure.name} ${(figure.value / 1000).toFixed(1)} s`;
  const unit = figure.unit === "" ? "" : figure.unit === "%" ? "%" : ` ${figure.unit}`;
  return `${figure.name} ${figure.value}${unit}`;
}

/**
 * The report's one line: `partition ok (41 s): detect 3,120 ms · recover 1,840 ms · …`; a failed
 * one names the checks that did not hold (their details follow on their own lines in `chaosDetails`).
 */
export function formatChaosLine(report: ChaosReport): string {
  const failed = report.checks.filter((check) => !check.ok);
  const verdict = failed.length === 0 ? "ok" : `FAILED (${failed.map((check) => check.name).join("; ")})`;
  const figures = report.figures.map(formatFigure).join(" · ");
  return `${report.scenario} ${verdict} (${Math.round(report.elapsedMs / 1000)} s)${figures === "" ? "" : `: ${figures}`}`;
}

/** The failed checks' details, one block each, for after the line. */
export function chaosDetails(report: ChaosReport): string[] {
  return report.checks.filter((check) => !check.ok).map((check) => `  ${check.name}: ${check.detail ?? "(no detail)"}`);
}

/** The first figure called `name`, or an error naming the ones the report has (for tests). */
export function figureOf(report: ChaosReport, name: string): number {
  const found = report.figures.find((figure) => figure.name === name);
  if (found === undefined) throw new Error(`${report.scenario} has no figure "${name}" (it has: ${report.figures.map((figure) => figure.name).join(", ")})`);
  return found.value;
}
