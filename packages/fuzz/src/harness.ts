import fc from "fast-check";

/** How one case ended. `allowed` is a documented difference (see the target's allow-list). */
export type Verdict =
  | { readonly kind: "ok" }
  | { readonly kind: "allowed"; readonly reason: string }
  | { readonly kind: "crash" | "hang" | "mismatch"; readonly detail: string };

/** The verdict of a case that holds. */
export const ok: Verdict = { kind: "ok" };

/** A documented, justified difference between Pier and a reference implementation. */
export interface AllowedDifference<Context> {
  readonly id: string;
  /** Why the difference is acceptable; printed with the count of cases it covered. */
  readonly reason: string;
  readonly applies: (context: Context) => boolean;
}

/** A target ready to run: inputs, the check of one input, and optional batch checks afterwards. */
export interface PreparedTarget<T> {
  readonly arbitrary: fc.Arbitrary<T>;
  /** Classifies one input; may be async (the API target). Must not throw. */
  check(input: T): Verdict | Promise<Verdict>;
  /** True when `check` returns a promise. */
  readonly async?: boolean;
  /** Checks run once after all cases (openssl differential on a sample); extra verdicts. */
  afterRun?(): Promise<Array<{ verdict: Verdict; input: string }>>;
  /** Lines printed under the target's figures: sampling, corpus, reference tools. */
  notes(): string[];
  /** Printable form of an input for a finding. */
  show(input: T): string;
  close?(): Promise<void>;
}

/** One fuzz target: a name and how to prepare it (corpus made per run). */
export interface FuzzTarget {
  readonly name: string;
  /** Default cases in the benchmark-style run. */
  readonly defaultRuns: number;
  prepare(options: { runs: number }): Promise<PreparedTarget<unknown>>;
}

/** A failing case kept for the report (the first few of each kind). */
export interface Finding {
  readonly kind: "crash" | "hang" | "mismatch";
  readonly detail: string;
  readonly input: string;
}

/** Figures of one target's run. */
export interface TargetResult {
  readonly target: string;
  readonly seed: number;
  readonly cases: number;
  readonly crashes: number;
  readonly hangs: number;
  readonly mismatches: number;
  /** Documented differences by reason. */
  readonly allowed: Record<string, number>;
  readonly seconds: number;
  readonly findings: Finding[];
  /** Failing cases grouped by their detail with numbers blanked, most frequent first. */
  readonly categories: Record<string, number>;
  readonly notes: string[];
}

/** A case slower than this is a hang (the parsers are synchronous and take microseconds). */
export const hangMs = 1_000;
const keptFindings = 5;

/** Runs a synchronous check and turns a thrown error or a slow case into a verdict. */
export function timed(check: () => Verdict): Verdict {
  const started = performance.now();
  let verdict: Verdict;
  try {
    verdict = check();
  } catch (error) {
    verdict = { kind: "crash", detail: `check threw ${describeError(error)}` };
  }
  const elapsed = performance.now() - started;
  if (elapsed > hangMs && verdict.kind !== "crash") return { kind: "hang", detail: `case took ${Math.round(elapsed)} ms (limit ${hangMs} ms)` };
  return verdict;
}

/** `Name: message` of anything thrown, one line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.split("\n")[0] ?? ""}`;
  return String(error);
}

/** Hex of a buffer, for findings (the printed report shortens it; the findings file keeps it). */
export function hexPreview(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function shorten(text: string, max = 240): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/**
 * Runs `runs` cases of a target with fast-check (generation, seed and replay), counting every
 * outcome instead of stopping at the first failure, so one run reports all of them.
 * `onProgress` is called after each case (the CLI's watchdog heartbeat).
 */
export async function runTarget(target: FuzzTarget, options: { runs?: number; seed?: number; onProgress?: (done: number) => void } = {}): Promise<TargetResult> {
  const runs = options.runs ?? target.defaultRuns;
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const started = performance.now();
  const prepared = await target.prepare({ runs });
  const counts = { cases: 0, crash: 0, hang: 0, mismatch: 0 };
  const allowed: Record<string, number> = {};
  const findings: Finding[] = [];
  const categories: Record<string, number> = {};
  const record = (verdict: Verdict, input: () => string) => {
    switch (verdict.kind) {
      case "ok":
        return;
      case "allowed":
        allowed[verdict.reason] = (allowed[verdict.reason] ?? 0) + 1;
        return;
      case "crash":
      case "hang":
      case "mismatch":
        counts[verdict.kind]++;
        {
          const category = `${verdict.kind}: ${verdict.detail.replace(/[0-9a-f]{6,}/g, "…").replace(/\d+/g, "N").slice(0, 200)}`;
          categories[category] = (categories[category] ?? 0) + 1;
        }
        if (findings.filter((f) => f.kind === verdict.kind).length < keptFindings) findings.push({ kind: verdict.kind, detail: verdict.detail, input: input() });
    }
  };
  try {
    const onCase = (verdict: Verdict, input: unknown) => {
      counts.cases++;
      record(verdict, () => prepared.show(input));
      options.onProgress?.(counts.cases);
    };
    // The predicate always holds: verdicts are counted, not thrown, so the run covers every case.
    const parameters = { numRuns: runs, seed, endOnFailure: true };
    if (prepared.async) {
      await fc.check(
        fc.asyncProperty(prepared.arbitrary, async (input) => {
          onCase(await prepared.check(input), input);
        }),
        parameters,
      );
    } else {
      fc.check(
        fc.property(prepared.arbitrary, (input) => {
          onCase(prepared.check(input) as Verdict, input);
        }),
        parameters,
      );
    }
    for (const { verdict, input } of (await prepared.afterRun?.()) ?? []) record(verdict, () => input);
  } finally {
    await prepared.close?.();
  }
  return {
    target: target.name,
    seed,
    cases: counts.cases,
    crashes: counts.crash,
    hangs: counts.hang,
    mismatches: counts.mismatch,
    allowed,
    seconds: (performance.now() - started) / 1000,
    findings,
    categories: Object.fromEntries(Object.entries(categories).sort(([, a], [, b]) => b - a)),
    notes: prepared.notes(),
  };
}

/** Human lines for a result, as `npm run fuzz` prints them. */
export function formatResult(result: TargetResult): string[] {
  const lines = [
    `${result.target.padEnd(14)} cases ${String(result.cases).padStart(7)}  crashes ${result.crashes}  hangs ${result.hangs}  mismatches ${result.mismatches}  ${result.seconds.toFixed(1)} s  (seed ${result.seed})`,
  ];
  for (const note of result.notes) lines.push(`    ${note}`);
  for (const [reason, count] of Object.entries(result.allowed)) lines.push(`    allowed difference ×${count}: ${reason}`);
  for (const [category, count] of Object.entries(result.categories).slice(0, 20)) lines.push(`    ×${count} ${category}`);
  for (const finding of result.findings) lines.push(`    ${finding.kind.toUpperCase()}: ${finding.detail}`, `      input: ${shorten(finding.input)}`);
  return lines;
}

/** True when a result has no crash, hang or mismatch. */
export function isClean(result: TargetResult): boolean {
  return result.crashes === 0 && result.hangs === 0 && result.mismatches === 0;
}
