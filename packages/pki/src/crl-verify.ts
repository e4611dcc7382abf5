import { type CertificateInfo, parseCertificate } from "./certificate.ts";
import { type CrlInfo, type RevokedEntry, parseCrl } from "./crl.ts";
import { PkiError } from "./errors.ts";
import { looksLikePem, parsePem } from "./pem.ts";

/** Largest CRL `verifyCrl` reads: about 200,000 entries, far past any fleet Pier serves. */
export const crlMaxBytes = 8 * 1024 * 1024;

/** Why a CRL cannot be used. `crl_expired` and `crl_wrong_issuer` are the doctor's codes for the same defects. */
export type CrlProblemCode = "not_a_crl" | "crl_too_large" | "crl_wrong_issuer" | "crl_expired" | "crl_not_yet_valid";

/** One defect of a CRL, with what to do about it. */
export interface CrlProblem {
  readonly code: CrlProblemCode;
  readonly problem: string;
  readonly fix: string;
}

/** What `verifyCrl` found. */
export interface CrlVerification {
  /** True when there are no problems: a CRL, signed by one of the CAs, current. */
  readonly ok: boolean;
  readonly problems: CrlProblem[];
  /** Revoked entries (empty when the input is not a CRL). */
  readonly entries: RevokedEntry[];
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
  readonly crlNumber?: number;
  /** The CRL's issuer name, as text. */
  readonly issuer?: string;
  /** The CA (of those given) whose key signed the CRL. */
  readonly signedBy?: CertificateInfo;
}

const crlHelp = "a CRL is a PEM block -----BEGIN X509 CRL----- or its DER; make one with: pier ca crl --dir CA_DIR --out crl.pem (or openssl ca -gencrl)";

function certificatesOf(pems: readonly string[]): CertificateInfo[] {
  return pems.flatMap((pem) => parsePem(pem).filter((b) => b.label === "CERTIFICATE").map((b) => parseCertificate(b.der)));
}

function readCrl(input: Buffer | string): CrlInfo | CrlProblem {
  const bytes = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  if (bytes.length > crlMaxBytes) return { code: "crl_too_large", problem: `the CRL is ${bytes.length} bytes, more than the ${crlMaxBytes} Pier reads`, fix: "drop expired certificates from the CRL (RFC 5280 lets a CA remove them after they expire)" };
  try {
    let der = bytes;
    if (looksLikePem(bytes)) {
      const blocks = parsePem(bytes);
      const block = blocks.find((b) => b.label === "X509 CRL");
      if (!block) return { code: "not_a_crl", problem: `the file holds ${blocks.map((b) => b.label).join(", ") || "no PEM block"}, not a CRL`, fix: crlHelp };
      der = block.der;
    }
    return parseCrl(der);
  } catch (error) {
    const detail = error instanceof PkiError ? error.message : "it cannot be decoded";
    return { code: "not_a_crl", problem: `this is not a certificate revocation list (${detail})`, fix: crlHelp };
  }
}

/**
 * Checks a CRL (PEM or DER) against the CAs whose certificates it may revoke: that it is a
 * CRL, that one of the CAs signed it (same issuer name, signature verifies with its key), and
 * that `now` lies between its thisUpdate and nextUpdate. Each defect comes with a fix, as in
 * `pier doctor --crl`.
 *
 * @example
 * const result = verifyCrl(readFileSync("crl.pem"), [readFileSync("ca.crt", "utf8")]);
 * if (!result.ok) for (const p of result.problems) console.log(`${p.problem} — ${p.fix}`);
 */
export function verifyCrl(input: Buffer | string, caCertificatePems: readonly string[], now = new Date()): CrlVerification {
  const crl = readCrl(input);
  if ("code" in crl) return { ok: false, problems: [crl], entries: [] };
  const problems: CrlProblem[] = [];
  const cas = certificatesOf(caCertificatePems);
  const named = cas.filter((ca) => ca.subjectDer.equals(crl.issuerDer) || ca.subjectText === crl.issuerText);
  const signedBy = named.find((ca) => crl.verifySignature(ca.publicKey));
  if (!signedBy) {
    const expected = cas.map((ca) => ca.subjectText).join("; ") || "none given";
    problems.push({
      code: "crl_wrong_issuer",
      problem: named.length > 0 ? `the CRL names ${crl.issuerText} as its issuer but its signature does not verify with that CA's key` : `the CRL was issued by ${crl.issuerText}, not by a configured CA (${expected})`,
      fix: "use the CRL of the CA that issued the client certificates: pier ca crl --dir CA_DIR --out crl.pem",
    });
  }
  if (crl.thisUpdate > now) {
    problems.push({ code: "crl_not_yet_valid", problem: `the CRL is not valid yet: its thisUpdate is ${crl.thisUpdate.toISOString()}`, fix: "check the clock of the machine that signed it, and of this one (NTP)" });
  }
  if (crl.nextUpdate && crl.nextUpdate < now) {
    problems.push({ code: "crl_expired", problem: `the CRL is out of date: its next update was due ${crl.nextUpdate.toISOString()}`, fix: "publish a fresh CRL: pier ca crl --dir CA_DIR --out crl.pem" });
  }
  return {
    ok: problems.length === 0,
    problems,
    entries: crl.revoked,
    thisUpdate: crl.thisUpdate,
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate } : {}),
    ...(crl.crlNumber === undefined ? {} : { crlNumber: crl.crlNumber }),
    issuer: crl.issuerText,
    ...(signedBy ? { signedBy } : {}),
  };
}
