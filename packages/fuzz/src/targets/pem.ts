import { X509Certificate } from "node:crypto";
import fc from "fast-check";
import { PkiError, inspectPkiFile, parseCertificate, parsePem, readPkiFile, toPem } from "@pier/pki";
import { type FuzzTarget, type Verdict, describeError, ok, timed } from "../harness.ts";
import { pkiCorpus } from "../pki-corpus.ts";

type Case = { kind: "text"; text: string } | { kind: "bytes"; bytes: Uint8Array } | { kind: "roundtrip"; label: string; der: Uint8Array };

/** Text edits that hit PEM's seams: armour lines, base64 alphabet, padding, line ends, headers. */
const pieces = ["-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----", "-----BEGIN X509 CRL-----", "-----END ", "-----", "\n", "\r\n", " ", "\t", "=", "==", "+", "/", "A", "Proc-Type: 4,ENCRYPTED\n", ":", "é", "\u0000", "-----BEGIN PRIVATE KEY-----"];

const edit = fc.record({ at: fc.nat(), remove: fc.integer({ min: 0, max: 8 }), insert: fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: "binary", maxLength: 6 })) });

function applyEdits(text: string, edits: ReadonlyArray<{ at: number; remove: number; insert: string }>): string {
  let out = text;
  for (const e of edits) {
    const at = e.at % (out.length + 1);
    out = out.slice(0, at) + e.insert + out.slice(at + e.remove);
  }
  return out;
}

/** The one thing both readers must agree on: which certificate a single-certificate PEM holds. */
function singleCertificate(text: string): Verdict {
  let blocks: ReturnType<typeof parsePem>;
  try {
    blocks = parsePem(text);
  } catch {
    return ok;
  }
  if (blocks.length !== 1 || blocks[0]!.label !== "CERTIFICATE") return ok;
  let ours: string | undefined;
  try {
    ours = parseCertificate(blocks[0]!.der).fingerprintSha256;
  } catch {
    return ok;
  }
  let theirs: X509Certificate;
  try {
    theirs = new X509Certificate(text);
  } catch {
    // Node's PEM reader refuses some text Pier's reads (headers, stray characters): Pier then
    // reads the same DER Node would from the clean block, checked just below for every accepted case.
    return ok;
  }
  const nodeFingerprint = theirs.fingerprint256.replace(/:/g, "").toLowerCase();
  return nodeFingerprint === ours ? ok : { kind: "mismatch", detail: `Pier and Node read different certificates from the same PEM (${ours} vs ${nodeFingerprint})` };
}

function check(input: Case): Verdict {
  if (input.kind === "roundtrip") {
    const der = Buffer.from(input.der);
    const blocks = parsePem(toPem(input.label, der));
    return blocks.length === 1 && blocks[0]!.label === input.label && blocks[0]!.der.equals(der) ? ok : { kind: "mismatch", detail: "toPem/parsePem round trip changed the block" };
  }
  const data = input.kind === "text" ? Buffer.from(input.text, "utf8") : Buffer.from(input.bytes);
  try {
    parsePem(data);
  } catch (error) {
    if (!(error instanceof PkiError)) return { kind: "crash", detail: `parsePem threw ${describeError(error)}` };
  }
  // readPkiFile's contract is to never throw; inspectPkiFile (pier ca inspect) may only refuse with PkiError.
  try {
    readPkiFile(data);
  } catch (error) {
    return { kind: "crash", detail: `readPkiFile threw ${describeError(error)}` };
  }
  try {
    inspectPkiFile(data);
  } catch (error) {
    if (!(error instanceof PkiError)) return { kind: "crash", detail: `inspectPkiFile threw ${describeError(error)}` };
  }
  return input.kind === "text" ? singleCertificate(input.text) : ok;
}

/**
 * PEM armour (parsePem, toPem) and the file-level readers behind `pier ca inspect`
 * (readPkiFile, inspectPkiFile): PEM texts made this run, edited at their seams, plus random
 * text and bytes; the certificate a single-certificate PEM holds is compared with Node's PEM reader.
 */
export const pemTarget: FuzzTarget = {
  name: "pem",
  defaultRuns: 100_000,
  prepare() {
    const corpus = pkiCorpus();
    const text = fc.constantFrom(...corpus.pems);
    const label = fc.oneof(fc.constantFrom("CERTIFICATE", "X509 CRL", "CERTIFICATE REQUEST", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "PUBLIC KEY"), fc.stringMatching(/^[A-Z0-9]+( [A-Z0-9]+)?$/));
    return Promise.resolve({
      arbitrary: fc.oneof(
        { weight: 1, arbitrary: text.map((t) => ({ kind: "text" as const, text: t })) },
        { weight: 6, arbitrary: fc.tuple(text, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([t, edits]) => ({ kind: "text" as const, text: applyEdits(t, edits) })) },
        // A real block with its label swapped: a key labelled as a certificate, a PKCS#8 key labelled RSA.
        { weight: 2, arbitrary: fc.tuple(text, label).map(([t, l]) => ({ kind: "text" as const, text: t.replace(/(BEGIN|END) [A-Z0-9 ]+-----/g, `$1 ${l}-----`) })) },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }).map((t) => ({ kind: "text" as const, text: `-----BEGIN CERTIFICATE-----\n${t}\n-----END CERTIFICATE-----\n` })) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ kind: "bytes" as const, bytes })) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("roundtrip" as const), label, der: fc.uint8Array({ maxLength: 300 }) }) },
      ),
      check: (input: Case) => timed(() => check(input)),
      notes: () => [corpus.description, "properties: parsePem/inspectPkiFile only PkiError, readPkiFile never throws, toPem/parsePem round trip, same certificate as Node's PEM reader when both read one"],
      show: (input: Case) => JSON.stringify(input, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)),
    });
  },
};
