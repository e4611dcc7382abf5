import { X509Certificate } from "node:crypto";
import { type CertificateInfo, describeCertificate, inspectPkiFile, parseCertificate } from "@pier/pki";
import { derInputs, withoutTbsField } from "../der-mutations.ts";
import { OpensslSample, type Parsed, judge, namesDiffer, opensslDifferential, parseWith, sameTime } from "../differential.ts";
import { type AllowedDifference, type FuzzTarget, type Verdict, describeError, hexPreview, ok, timed } from "../harness.ts";
import type { OpensslView } from "../openssl-reference.ts";
import { derEncodingAllowances } from "../der-allowances.ts";
import { pkiCorpus } from "../pki-corpus.ts";

interface NodeView {
  readonly accepted: boolean;
  readonly serial?: string;
  readonly subjectValues?: string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

interface Context {
  readonly input: Buffer;
  readonly ours: Parsed<CertificateInfo>;
  readonly reference: "node" | "openssl";
}

function refusal(context: Context): string | undefined {
  return "accepted" in context.ours && !context.ours.accepted ? context.ours.error.message : undefined;
}

/**
 * Why Pier may refuse what a reference reads: each entry is a documented, justified difference,
 * and each checks the input (not only Pier's message) before it excuses a case. The first entry
 * that applies names the case, so the broad `damaged-extension` comes last.
 */
export const certificateAllowList: AllowedDifference<Context>[] = [
  ...derEncodingAllowances<Context>("the certificate", refusal, parse),
  {
    id: "node-openssl-versions",
    reason: "the system's openssl (3.0) reads bytes Node's X509Certificate (OpenSSL 3.5) refuses; Pier reads every certificate through X509Certificate, so it follows Node",
    applies: (c) => c.reference === "openssl" && /This is not an X\.509 certificate/.test(refusal(c) ?? "") && !nodeView(c.input).accepted,
  },
  {
    id: "openssl-versions",
    reason: "Node's X509Certificate (OpenSSL 3.5) reads bytes the system's openssl (3.0) refuses; Pier accepts only what X509Certificate reads, so it follows Node",
    applies: (c) => c.reference === "openssl" && "accepted" in c.ours && c.ours.accepted && nodeView(c.input).accepted,
  },
  {
    id: "long-serial",
    reason: "a serial over 20 octets (RFC 5280 §4.1.2.2 limit): `openssl x509 -serial` wraps it with backslashes; not compared",
    applies: (c) => c.reference === "openssl" && "accepted" in c.ours && c.ours.accepted && c.ours.facts.serialNumber.length > 40,
  },
  {
    id: "negative-small-integer",
    reason: "a negative version, path length or other small INTEGER (RFC 5280 allows none): OpenSSL's decoder does not check the sign; Pier refuses the certificate",
    applies: (c) => /expected a non-negative integer/.test(refusal(c) ?? ""),
  },
  {
    id: "duplicate-extension",
    reason: "an extension present twice (RFC 5280 §4.2 forbids it): OpenSSL reads the certificate and flags it invalid only when verifying; Pier refuses it when reading",
    applies: (c) => /the extension [\d.]+ appears twice/.test(refusal(c) ?? ""),
  },
  {
    id: "unreadable-key",
    reason: "a SubjectPublicKeyInfo OpenSSL cannot decode into a key: X509Certificate decodes it lazily (its publicKey getter throws), Pier needs the key (pin, key type) and refuses the certificate",
    applies: (c) => {
      if (!/public key cannot be read/.test(refusal(c) ?? "")) return false;
      try {
        void new X509Certificate(c.input).publicKey;
        return false;
      } catch {
        return true;
      }
    },
  },
  {
    id: "negative-serial",
    reason: "a negative serial (RFC 5280 §4.1.2.2 requires a positive one): Node and openssl print the signed value, Pier the encoded two's-complement bytes, the same way it writes and matches serials in CRLs",
    applies: (c) => {
      if (!("accepted" in c.ours) || !c.ours.accepted) return false;
      const view = nodeView(c.input);
      return (view.serial ?? "").startsWith("-") && /^[89a-f]/.test(c.ours.facts.serialNumber.padStart(2, "0"));
    },
  },
  {
    id: "non-rfc5280-time",
    reason: "a validity time not in RFC 5280 §4.1.2.5 form (YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ): OpenSSL's decoder does not check the text; Pier refuses the certificate",
    applies: (c) => /time ".*" is not (in DER form|a real date and time)/s.test(refusal(c) ?? ""),
  },
  {
    id: "damaged-extension",
    reason: "a damaged extension value: OpenSSL keeps extension values as opaque OCTET STRINGs until asked; Pier decodes the ones it acts on (basicConstraints, keyUsage, EKU, SAN, SKI/AKI) when reading and refuses a damaged one",
    applies: (c) => {
      if (refusal(c) === undefined) return false;
      const stripped = withoutTbsField(c.input, 0xa3);
      if (!stripped) return false;
      const parsed = parse(stripped);
      if (!("accepted" in parsed)) return false;
      // Without the extensions it reads, or it is refused for another documented reason.
      return parsed.accepted || certificateAllowList.some((entry) => entry.id !== "damaged-extension" && entry.applies({ ...c, input: stripped, ours: parsed }));
    },
  },
];

function nodeView(der: Buffer): NodeView {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    return { accepted: false };
  }
  // Node leaves `subject` undefined when OpenSSL cannot print the name.
  const subject = x509.subject as string | undefined;
  const subjectValues = subject === undefined ? undefined : subject === "" ? [] : subject.split("\n").map((line) => line.slice(line.indexOf("=") + 1));
  return { accepted: true, serial: x509.serialNumber.toLowerCase(), ...(subjectValues ? { subjectValues } : {}), notBefore: x509.validFromDate, notAfter: x509.validToDate };
}

/** Serial as both print it: hex without leading zeros (Node keeps one "0" for zero). */
function normalSerial(hex: string | undefined): string | undefined {
  return hex?.replace(/^0+(?=.)/, "");
}

function compareFacts(ours: CertificateInfo, theirs: { serial?: string; subjectValues?: string[]; notBefore?: Date; notAfter?: Date; spkiSha256?: string }): string | undefined {
  if (theirs.serial !== undefined && normalSerial(theirs.serial) !== normalSerial(ours.serialNumber)) return `serial: Pier ${ours.serialNumber}, reference ${theirs.serial}`;
  if (theirs.subjectValues && namesDiffer(ours.subject.map((a) => a.value), theirs.subjectValues)) return `subject: Pier "${ours.subjectText}", reference ${JSON.stringify(theirs.subjectValues)}`;
  if (!sameTime(ours.notBefore, theirs.notBefore)) return `notBefore: Pier ${ours.notBefore.toISOString()}, reference ${String(theirs.notBefore)}`;
  if (!sameTime(ours.notAfter, theirs.notAfter)) return `notAfter: Pier ${ours.notAfter.toISOString()}, reference ${String(theirs.notAfter)}`;
  if (theirs.spkiSha256 !== undefined && theirs.spkiSha256 !== ours.spkiSha256) return `public key: Pier ${ours.spkiSha256}, reference ${theirs.spkiSha256}`;
  return undefined;
}

function compare(input: Buffer, ours: Parsed<CertificateInfo>, reference: "node" | "openssl", theirs: NodeView | OpensslView): Verdict {
  if ("crashed" in ours) return { kind: "crash", detail: `parseCertificate threw ${describeError(ours.crashed)}` };
  const context = { input, ours, reference };
  if (!ours.accepted && theirs.accepted) return judge(certificateAllowList, context, `${reference} reads it, Pier refuses: ${ours.error.message}`);
  if (ours.accepted && !theirs.accepted) return judge(certificateAllowList, context, `Pier reads it, ${reference} refuses`);
  if (!ours.accepted) return ok;
  const view = "subjectValues" in theirs ? theirs : { ...theirs, subjectValues: (theirs as OpensslView).nameValues };
  const difference = compareFacts(ours.facts, view);
  return difference ? judge(certificateAllowList, context, `${reference}: ${difference}`) : ok;
}

function parse(input: Buffer): Parsed<CertificateInfo> {
  return parseWith(() => {
    const info = parseCertificate(input);
    describeCertificate(info);
    return info;
  });
}

/**
 * parseCertificate (and `pier ca inspect`'s description of it) against Node's X509Certificate
 * on every case and `openssl x509 -inform DER` on a sample: acceptance, serial, subject,
 * validity and public key.
 */
export const certificateTarget: FuzzTarget = {
  name: "certificate",
  defaultRuns: 100_000,
  prepare({ runs }) {
    const corpus = pkiCorpus();
    const sample = new OpensslSample(Math.min(2_000, Math.max(20, Math.ceil(runs / 50))));
    return Promise.resolve({
      arbitrary: derInputs(corpus.certificates),
      check: (input: Buffer) =>
        timed(() => {
          const ours = parse(input);
          const node = nodeView(input);
          sample.offer(input, node.accepted || ("accepted" in ours && ours.accepted));
          const verdict = compare(input, ours, "node", node);
          if (verdict.kind !== "ok") return verdict;
          // The file-level reader must agree and never throw (its contract).
          const lines = inspectPkiFile(input);
          const saysCertificate = lines.some((line) => line.startsWith("Certificate (X.509"));
          if ("accepted" in ours && ours.accepted !== saysCertificate && ours.accepted) return { kind: "mismatch", detail: "parseCertificate reads it but inspectPkiFile does not describe a certificate" };
          return ok;
        }),
      afterRun: () => opensslDifferential("certificate", sample, parse, (input, ours, view) => compare(input, ours, "openssl", view)),
      notes: () => [corpus.description, `Node X509Certificate differential on every case; openssl x509 differential on a sample of ${sample.inputs.length} cases (one openssl process per case)`],
      show: (input: Buffer) => hexPreview(input),
    });
  },
};
