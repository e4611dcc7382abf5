import { PkiError } from "@pier/pki";
import { type AllowedDifference, type Verdict, describeError, hexPreview, ok } from "./harness.ts";
import { type OpensslKind, type OpensslView, opensslViews } from "./openssl-reference.ts";

/** What a parser made of an input: refused with its own error, accepted with facts, or crashed. */
export type Parsed<Facts> = { readonly accepted: true; readonly facts: Facts } | { readonly accepted: false; readonly error: PkiError } | { readonly crashed: unknown };

/** Runs a Pier parser, telling its own error (a refusal) from anything else (a crash). */
export function parseWith<Facts>(parse: () => Facts): Parsed<Facts> {
  try {
    return { accepted: true, facts: parse() };
  } catch (error) {
    return error instanceof PkiError ? { accepted: false, error } : { crashed: error };
  }
}

/** Values Node/openssl print unescaped and unchanged: the only ones compared as text. */
export function isSimpleValue(value: string): boolean {
  return /^[A-Za-z0-9 .@_*-]+$/.test(value) && value.trim() === value && !value.includes("  ");
}

/** Compares two lists of name values as multisets; `undefined` when either side has a value not worth comparing. */
export function namesDiffer(ours: readonly string[], theirs: readonly string[]): boolean | undefined {
  if (!ours.every(isSimpleValue) || !theirs.every(isSimpleValue)) return undefined;
  return [...ours].sort().join("\u0000") !== [...theirs].sort().join("\u0000");
}

/** Same instant, or both absent/invalid. */
export function sameTime(a: Date | undefined, b: Date | undefined): boolean {
  const valid = (d: Date | undefined) => d !== undefined && !Number.isNaN(d.getTime());
  if (!valid(a) || !valid(b)) return valid(a) === valid(b);
  return a!.getTime() === b!.getTime();
}

/** The first allowed difference that covers a case, as a verdict; else the mismatch. */
export function judge<Context>(allowList: readonly AllowedDifference<Context>[], context: Context, detail: string): Verdict {
  const allowed = allowList.find((entry) => entry.applies(context));
  return allowed ? { kind: "allowed", reason: `${allowed.id}: ${allowed.reason}` } : { kind: "mismatch", detail };
}

/**
 * Keeps a sample of inputs for the openssl differential: every input some parser accepted (up
 * to `size`), and a share of refused ones, chosen by reservoir sampling.
 */
export class OpensslSample {
  readonly #accepted: Buffer[] = [];
  readonly #refused: Buffer[] = [];
  #seenAccepted = 0;
  #seenRefused = 0;
  readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  offer(input: Buffer, acceptedSomewhere: boolean): void {
    const [list, seen, cap] = acceptedSomewhere ? [this.#accepted, ++this.#seenAccepted, Math.ceil(this.size * 0.75)] : [this.#refused, ++this.#seenRefused, Math.floor(this.size * 0.25)];
    if (list.length < cap) list.push(input);
    else {
      const slot = Math.floor(Math.random() * seen);
      if (slot < cap) list[slot] = input;
    }
  }

  get inputs(): Buffer[] {
    return [...this.#accepted, ...this.#refused];
  }
}

/**
 * Runs openssl on the sample and compares each view with Pier's parse of the same bytes.
 * `compare` returns a verdict for an input both sides read, or a refusal mismatch.
 */
export async function opensslDifferential<Facts>(
  kind: OpensslKind,
  sample: OpensslSample,
  parse: (input: Buffer) => Parsed<Facts>,
  compare: (input: Buffer, ours: Parsed<Facts>, theirs: OpensslView) => Verdict,
): Promise<Array<{ verdict: Verdict; input: string }>> {
  const inputs = sample.inputs;
  const views = await opensslViews(kind, inputs);
  return inputs.map((input, index) => {
    const ours = parse(input);
    const verdict: Verdict = "crashed" in ours ? { kind: "crash", detail: describeError(ours.crashed) } : compare(input, ours, views[index]!);
    return { verdict, input: hexPreview(input) };
  });
}

export { ok };
