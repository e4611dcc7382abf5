import { type CsrInfo, inspectPkiFile, parseCsr, spkiSha256 } from "@pier/pki";
import { derInputs, withoutTbsField } from "../der-mutations.ts";
import { OpensslSample, type Parsed, judge, namesDiffer, opensslDifferential, parseWith } from "../differential.ts";
import { type AllowedDifference, type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";
import type { OpensslView } from "../openssl-reference.ts";
import { derEncodingAllowances } from "../der-allowances.ts";
import { pkiCorpus } from "../pki-corpus.ts";

interface Context {
  readonly input: Buffer;
  readonly ours: Parsed<CsrInfo>;
}

const refusal = (c: Context) => ("accepted" in c.ours && !c.ours.accepted ? c.ours.error.message : undefined);

function parse(input: Buffer): Parsed<CsrInfo> {
  return parseWith(() => parseCsr(input));
}

/** Documented differences between Pier's parseCsr and `openssl req`, each checked on the input. */
export const csrAllowList: AllowedDifference<Context>[] = [
  ...derEncodingAllowances<Context>("the request", refusal, parse),
  {
    id: "damaged-attributes",
    reason: "damaged attributes (the extension request): `openssl req -noout` does not decode them; Pier decodes the requested SANs and refuses a damaged request",
    applies: (c) => {
      if (refusal(c) === undefined) return false;
      const stripped = withoutTbsField(c.input, 0xa0);
      if (!stripped) return false;
      const parsed = parse(stripped);
      return "accepted" in parsed && (parsed.accepted || csrAllowList.some((e) => e.id !== "damaged-attributes" && e.applies({ input: stripped, ours: parsed })));
    },
  },
  {
    id: "negative-small-integer",
    reason: "a negative version (RFC 2986 has only version 0): openssl's decoder does not check the sign; Pier refuses the request",
    applies: (c) => /expected a non-negative integer/.test(refusal(c) ?? ""),
  },
  {
    id: "empty-bit-string",
    reason: "an empty signature BIT STRING: openssl reads the request (and reports the signature invalid); Pier refuses it as malformed",
    applies: (c) => /empty bit string/.test(refusal(c) ?? ""),
  },
];

function compare(input: Buffer, ours: Parsed<CsrInfo>, theirs: OpensslView): Verdict {
  if ("crashed" in ours) return { kind: "crash", detail: `parseCsr threw ${describeError(ours.crashed)}` };
  const context = { input, ours };
  if (!ours.accepted && theirs.accepted) return judge(csrAllowList, context, `openssl reads it, Pier refuses: ${ours.error.message}`);
  if (ours.accepted && !theirs.accepted) return judge(csrAllowList, context, "Pier reads it, openssl refuses");
  if (!ours.accepted) return ok;
  const info = ours.facts;
  if (theirs.nameValues && namesDiffer(info.subject.map((a) => a.value), theirs.nameValues)) return judge(csrAllowList, context, `subject: Pier "${info.subjectText}", openssl ${JSON.stringify(theirs.nameValues)}`);
  if (theirs.spkiSha256 !== undefined && theirs.spkiSha256 !== spkiSha256(info.publicKey)) return judge(csrAllowList, context, "public key differs");
  if (theirs.signatureValid !== info.signatureValid) return judge(csrAllowList, context, `signature: Pier ${info.signatureValid ? "valid" : "invalid"}, openssl ${theirs.signatureValid ? "valid" : "invalid"}`);
  return ok;
}

/** parseCsr against `openssl req -inform DER -verify` on a sample: acceptance, subject, key, signature. */
export const csrTarget: FuzzTarget = {
  name: "csr",
  defaultRuns: 100_000,
  prepare({ runs }) {
    const corpus = pkiCorpus();
    const sample = new OpensslSample(Math.min(2_000, Math.max(20, Math.ceil(runs / 50))));
    return Promise.resolve({
      arbitrary: derInputs(corpus.csrs),
      check: (input: Buffer) =>
        timed(() => {
          const ours = parse(input);
          if ("crashed" in ours) return { kind: "crash", detail: `parseCsr threw ${describeError(ours.crashed)}` };
          sample.offer(input, ours.accepted);
          inspectPkiFile(input);
          return ok;
        }),
      afterRun: () => opensslDifferential("csr", sample, parse, compare),
      notes: () => [corpus.description, `in-process: only PkiError, inspectPkiFile never throws; openssl req differential on a sample of ${sample.inputs.length} cases (one openssl process per case; Node has no CSR parser)`],
      show: (input: Buffer) => hexPreview(input),
    });
  },
};
