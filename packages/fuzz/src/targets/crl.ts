import { type CrlInfo, inspectPkiFile, parseCrl } from "@pier/pki";
import { derInputs, withoutCrlEntryExtensions, withoutTbsField } from "../der-mutations.ts";
import { OpensslSample, type Parsed, judge, namesDiffer, opensslDifferential, parseWith, sameTime } from "../differential.ts";
import { type AllowedDifference, type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";
import type { OpensslView } from "../openssl-reference.ts";
import { derEncodingAllowances } from "../der-allowances.ts";
import { pkiCorpus } from "../pki-corpus.ts";

interface Context {
  readonly input: Buffer;
  readonly ours: Parsed<CrlInfo>;
}

const refusal = (c: Context) => ("accepted" in c.ours && !c.ours.accepted ? c.ours.error.message : undefined);

function parse(input: Buffer): Parsed<CrlInfo> {
  return parseWith(() => parseCrl(input));
}

/** Documented differences between Pier's parseCrl and `openssl crl`, each checked on the input. */
export const crlAllowList: AllowedDifference<Context>[] = [
  ...derEncodingAllowances<Context>("the CRL", refusal, parse),
  {
    id: "damaged-entry-extension",
    reason: "a damaged extension of a revoked entry (e.g. a reason code whose OCTET STRING holds no DER): openssl keeps it opaque; Pier decodes the reason code and refuses the CRL (checked: with the entries' extensions removed Pier reads the CRL, or refuses it for another allowed reason)",
    applies: (c) => {
      if (refusal(c) === undefined) return false;
      const stripped = withoutCrlEntryExtensions(c.input);
      if (!stripped) return false;
      const parsed = parse(stripped);
      return "accepted" in parsed && (parsed.accepted || crlAllowList.some((e) => e.id !== "damaged-entry-extension" && e.applies({ input: stripped, ours: parsed })));
    },
  },
  {
    id: "damaged-extension",
    reason: "a damaged CRL extension value: openssl keeps it opaque; Pier decodes the CRL number and refuses a damaged one",
    applies: (c) => {
      if (refusal(c) === undefined) return false;
      const stripped = withoutTbsField(c.input, 0xa0);
      if (!stripped) return false;
      const parsed = parse(stripped);
      return "accepted" in parsed && (parsed.accepted || crlAllowList.some((e) => e.id !== "damaged-extension" && e.applies({ input: stripped, ours: parsed })));
    },
  },
  {
    id: "non-rfc5280-time",
    reason: "a time not in RFC 5280 §5.1.2.4 form (YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ, real date): OpenSSL's decoder does not check the text; Pier refuses the CRL",
    applies: (c) => /time ".*" is not (in DER form|a real date and time)/s.test(refusal(c) ?? ""),
  },
  {
    id: "empty-bit-string",
    reason: "an empty signature BIT STRING: openssl reads the CRL (its signature cannot verify); Pier refuses it as malformed",
    applies: (c) => /empty bit string/.test(refusal(c) ?? ""),
  },
];

function compare(input: Buffer, ours: Parsed<CrlInfo>, theirs: OpensslView): Verdict {
  if ("crashed" in ours) return { kind: "crash", detail: `parseCrl threw ${describeError(ours.crashed)}` };
  const context = { input, ours };
  if (!ours.accepted && theirs.accepted) return judge(crlAllowList, context, `openssl reads it, Pier refuses: ${ours.error.message}`);
  if (ours.accepted && !theirs.accepted) return judge(crlAllowList, context, "Pier reads it, openssl refuses");
  if (!ours.accepted) return ok;
  const info = ours.facts;
  if (theirs.nameValues && namesDiffer(info.issuer.map((a) => a.value), theirs.nameValues)) return judge(crlAllowList, context, `issuer: Pier "${info.issuerText}", openssl ${JSON.stringify(theirs.nameValues)}`);
  if (!sameTime(info.thisUpdate, theirs.notBefore)) return judge(crlAllowList, context, `thisUpdate: Pier ${info.thisUpdate.toISOString()}, openssl ${String(theirs.notBefore)}`);
  if (!sameTime(info.nextUpdate, theirs.notAfter)) return judge(crlAllowList, context, `nextUpdate: Pier ${info.nextUpdate?.toISOString()}, openssl ${String(theirs.notAfter)}`);
  if (theirs.crlNumber !== info.crlNumber) return judge(crlAllowList, context, `CRL number: Pier ${info.crlNumber}, openssl ${theirs.crlNumber}`);
  // Negative serials (RFC 5280 forbids them): openssl prints the signed value, Pier the bytes.
  const ourSerials = info.revoked.map((r) => r.serialNumber.replace(/^0+(?=.)/, ""));
  const theirSerials = (theirs.revokedSerials ?? []).map((s) => s.replace(/^0+(?=.)/, ""));
  const differs = ourSerials.length !== theirSerials.length || theirSerials.some((s, i) => !s.startsWith("-") && s !== ourSerials[i]);
  // openssl -text wraps serials over 20 octets (RFC 5280's limit) across lines: not compared.
  if (differs && ourSerials.some((s) => s.length > 40)) return { kind: "allowed", reason: "long-serial: a revoked serial over 20 octets (RFC 5280 §4.1.2.2 limit) that `openssl crl -text` prints across lines; not compared" };
  if (differs) return judge(crlAllowList, context, `revoked serials: Pier [${ourSerials.join(",")}], openssl [${theirSerials.join(",")}]`);
  if (theirSerials.some((s) => s.startsWith("-"))) return { kind: "allowed", reason: "negative-serial: a negative revoked serial (RFC 5280 §5.1.2.6 forbids it): openssl prints the signed value, Pier the encoded bytes, as it matches them" };
  return ok;
}

/** parseCrl against `openssl crl -inform DER` on a sample: acceptance, issuer, updates, number, revoked serials. */
export const crlTarget: FuzzTarget = {
  name: "crl",
  defaultRuns: 100_000,
  prepare({ runs }) {
    const corpus = pkiCorpus();
    const sample = new OpensslSample(Math.min(2_000, Math.max(20, Math.ceil(runs / 50))));
    return Promise.resolve({
      arbitrary: derInputs(corpus.crls),
      check: (input: Buffer) =>
        timed(() => {
          const ours = parse(input);
          if ("crashed" in ours) return { kind: "crash", detail: `parseCrl threw ${describeError(ours.crashed)}` };
          sample.offer(input, ours.accepted);
          inspectPkiFile(input);
          return ok;
        }),
      afterRun: () => opensslDifferential("crl", sample, parse, compare),
      notes: () => [corpus.description, `in-process: only PkiError, inspectPkiFile never throws; openssl crl differential on a sample of ${sample.inputs.length} cases (one openssl process per case; Node has no CRL parser)`],
      show: (input: Buffer) => hexPreview(input),
    });
  },
};
