import { type X509Certificate, createHash } from "node:crypto";
import { createSecureContext } from "node:tls";
import { type RevokedEntry, canonicalSerial, crlToPem, looksLikePem, parseCertificate, parsePem, tlsProfile, verifyCrl } from "@pier/pki";

/**
 * Limits on an operator CRL file (`--mtlscrl`, `--sslcrl`, the upload): the file, the CRLs in it,
 * and the revoked entries over all of them (each CRL is also held to pki's `crlMaxBytes`, 8 MiB,
 * about 200,000 entries). Past that, use shorter-lived certificates rather than a longer list.
 */
export const crlLimits: CrlLimits = Object.freeze({ maxFileBytes: 64 * 1024 * 1024, maxEntries: 1_000_000, maxCrls: 16 });

/** How much of a CRL file Pier reads: bytes, revoked entries over all its CRLs, CRLs. */
export interface CrlLimits {
  readonly maxFileBytes: number;
  readonly maxEntries: number;
  readonly maxCrls: number;
}

/** Why a CRL file cannot be used, as `file: problem — fix`. */
export interface CrlProblem {
  readonly code: "crl_too_large" | "not_a_crl" | "crl_wrong_issuer" | "crl_expired" | "crl_not_yet_valid" | "crl_missing_for_ca" | "crl_too_many_entries" | "crl_without_ca" | "refused_by_node";
  readonly file: string;
  readonly problem: string;
  readonly fix: string;
}

/** One CRL of the file, checked against the CA that signed it. */
export interface OperatorCrl {
  /** The CA certificate (from the CA file) whose key signed it. */
  readonly issuer: X509Certificate;
  /** The issuer's name, `CN=…, O=…`. */
  readonly issuerText: string;
  readonly crlNumber?: number;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly entries: readonly RevokedEntry[];
}

/** A CRL file that passed every check, ready for a secure context and for revocation checks. */
export interface CrlMaterial {
  readonly path: string;
  /** SHA-256 of the file, to tell whether a reload changed it. */
  readonly sha256: string;
  /** One PEM per CRL: Node's `crl` option reads one CRL per item. */
  readonly pems: readonly string[];
  readonly crls: readonly OperatorCrl[];
  /** Revoked entries over every CRL of the file. */
  readonly entryCount: number;
  /** True when one of the CRLs lists the certificate and was signed by its issuer. */
  isRevoked(certificate: X509Certificate): boolean;
}

/** The bytes of a CRL file and of the CA file it must come from. */
export interface CrlInput {
  readonly crl: { readonly path: string; readonly data: Buffer };
  readonly ca: { readonly path: string; readonly data: Buffer };
  /** The instant the CRLs must be valid at; defaults to now. */
  readonly now?: Date;
  /** Defaults to `crlLimits`. */
  readonly limits?: Partial<CrlLimits>;
}

// What OpenSSL does with a CRL that fails a date check, for the messages.
const consequences: Readonly<Record<string, string>> = {
  crl_expired: ' (OpenSSL would refuse every client certificate with "CRL has expired")',
  crl_not_yet_valid: ' (OpenSSL would refuse every client certificate with "CRL is not yet valid")',
};

interface CaCertificate {
  readonly x509: X509Certificate;
  readonly subjectDer: Buffer;
  readonly subjectText: string;
}

function caCertificatesOf(data: Buffer): CaCertificate[] {
  const found: CaCertificate[] = [];
  for (const block of looksLikePem(data) ? parsePem(data) : []) {
    if (block.label !== "CERTIFICATE") continue;
    const info = parseCertificate(block.der);
    found.push({ x509: info.x509, subjectDer: info.subjectDer, subjectText: info.subjectText });
  }
  return found;
}

/** The DER of every CRL in the file: PEM (one or more `X509 CRL` blocks) or one DER CRL. */
function crlDersOf(input: CrlInput["crl"]): Buffer[] | CrlProblem {
  const notACrl = (what: string): CrlProblem => ({ code: "not_a_crl", file: input.path, problem: `this is not a CRL (${what})`, fix: `give the CRL file your CA publishes, PEM ("-----BEGIN X509 CRL-----") or DER, e.g. from: openssl ca -gencrl -out ${input.path}` });
  if (input.data.length === 0) return notACrl("the file is empty");
  if (!looksLikePem(input.data)) return [input.data];
  let blocks;
  try {
    blocks = parsePem(input.data);
  } catch (error) {
    return notACrl((error as Error).message);
  }
  const other = blocks.find((block) => block.label !== "X509 CRL");
  if (other) return notACrl(`it holds a PEM block "${other.label}"`);
  return blocks.map((block) => block.der);
}

function keyOf(issuer: X509Certificate, serial: string): string {
  return `${issuer.fingerprint256}/${canonicalSerial(serial)}`;
}

/**
 * Checks an operator CRL file the way `pier doctor --crl` judges a CRL: each CRL parses, was
 * signed by one of the CA file's certificates, is current (thisUpdate not in the future, nextUpdate
 * not past), and the file has a CRL for every CA of the CA file — OpenSSL, once given a CRL,
 * checks every certificate of a client's chain and refuses any whose issuer has none
 * ("unable to get certificate CRL"), which would lock those devices out. Returns every problem
 * found, or the material.
 *
 * @example
 * const result = checkOperatorCrl({ crl: { path, data }, ca: { path: caPath, data: caData } });
 * if (Array.isArray(result)) throw new Error(result.map((p) => `${p.file}: ${p.problem} — ${p.fix}`).join("\n"));
 */
export function checkOperatorCrl(input: CrlInput): CrlMaterial | CrlProblem[] {
  const { crl: file, ca } = input;
  const now = input.now ?? new Date();
  const limits = { ...crlLimits, ...input.limits };
  if (file.data.length > limits.maxFileBytes) {
    return [{ code: "crl_too_large", file: file.path, problem: `the file is ${file.data.length} bytes, more than the ${limits.maxFileBytes} Pier reads`, fix: "publish a smaller CRL: issue shorter-lived certificates so that expired ones leave the list" }];
  }
  const ders = crlDersOf(file);
  if (!Array.isArray(ders)) return [ders];
  if (ders.length > limits.maxCrls) {
    return [{ code: "crl_too_large", file: file.path, problem: `the file holds ${ders.length} CRLs, more than the ${limits.maxCrls} Pier reads`, fix: "keep one CRL per CA of the CA file" }];
  }
  let cas: CaCertificate[];
  try {
    cas = caCertificatesOf(ca.data);
  } catch (error) {
    return [{ code: "crl_without_ca", file: ca.path, problem: `the CA file cannot be read to check the CRL (${(error as Error).message})`, fix: `check it with: pier doctor --ca ${ca.path}` }];
  }
  const problems: CrlProblem[] = [];
  const crls: OperatorCrl[] = [];
  const pems: string[] = [];
  let entryCount = 0;
  const caPems = cas.map((candidate) => candidate.x509.toString());
  for (const der of ders) {
    // pki's verifyCrl: a CRL, signed by one of the CAs, thisUpdate ≤ now < nextUpdate (OpenSSL's rule, no skew).
    const verdict = verifyCrl(der, caPems, now);
    const issuer = verdict.issuer ?? "an unknown issuer";
    for (const found of verdict.problems) {
      const problem =
        found.code === "crl_wrong_issuer" && verdict.signedBy === undefined && !cas.some((candidate) => candidate.subjectText === issuer)
          ? `the CRL was issued by ${issuer}, not by a CA of ${ca.path} (${cas.map((c) => c.subjectText).join("; ") || "no CA certificate"})`
          : found.code === "crl_expired" || found.code === "crl_not_yet_valid"
            ? `${found.problem.replace(/^the CRL/, `the CRL of ${issuer}`)}${consequences[found.code] ?? ""}`
            : found.problem;
      const fix = found.code === "crl_wrong_issuer" ? `use the CRL of the CA that issues the client certificates (the one in ${ca.path}), e.g. openssl ca -gencrl with that CA's configuration` : found.fix;
      problems.push({ code: found.code, file: file.path, problem, fix });
    }
    const signer = verdict.signedBy;
    if (!verdict.ok || !signer) continue;
    entryCount += verdict.entries.length;
    const thisUpdate = verdict.thisUpdate ?? now;
    crls.push({ issuer: signer.x509, issuerText: issuer, ...(verdict.crlNumber === undefined ? {} : { crlNumber: verdict.crlNumber }), thisUpdate, ...(verdict.nextUpdate ? { nextUpdate: verdict.nextUpdate } : {}), entries: verdict.entries });
    pems.push(crlToPem(der));
  }
  if (entryCount > limits.maxEntries) {
    problems.push({ code: "crl_too_many_entries", file: file.path, problem: `the CRLs list ${entryCount} revoked certificates, more than the ${limits.maxEntries} Pier keeps in memory`, fix: "issue shorter-lived certificates so that expired ones leave the list" });
  }
  if (problems.length === 0) {
    for (const candidate of cas) {
      if (crls.some((crl) => crl.issuer.fingerprint256 === candidate.x509.fingerprint256)) continue;
      problems.push({
        code: "crl_missing_for_ca",
        file: file.path,
        problem: `there is no CRL of ${candidate.subjectText}, a CA of ${ca.path}; with a CRL loaded, OpenSSL refuses every client certificate issued under a CA without one ("unable to get certificate CRL")`,
        fix: `put a CRL of every CA of ${ca.path} in the file, one after the other (cat root.crl intermediate.crl > ${file.path})`,
      });
    }
  }
  if (problems.length === 0) {
    try {
      createSecureContext({ ...tlsProfile, ca: ca.data, crl: pems });
    } catch (error) {
      problems.push({ code: "refused_by_node", file: file.path, problem: `Node's TLS refuses this CRL (${(error as Error).message})`, fix: `check it with: openssl crl -in ${file.path} -noout -text` });
    }
  }
  if (problems.length > 0) return problems;

  const revoked = new Set<string>();
  for (const crl of crls) for (const entry of crl.entries) revoked.add(keyOf(crl.issuer, entry.serialNumber));
  return {
    path: file.path,
    sha256: createHash("sha256").update(file.data).digest("hex"),
    pems,
    crls,
    entryCount,
    isRevoked(certificate) {
      if (revoked.size === 0) return false;
      // Keyed by the CA that signed the CRL: a serial of another CA is not this one's.
      return crls.some((crl) => certificate.checkIssued(crl.issuer) && revoked.has(keyOf(crl.issuer, certificate.serialNumber)));
    },
  };
}

/**
 * The entries of a CRL file as `RevocationRegistry` takes them (issuer name as Node shows a
 * certificate's issuer, serial in hex), for the check at handshake end that also covers resumed
 * TLS sessions.
 *
 * @example
 * revocations.setSource("operator-crl", revocationEntriesOf(material));
 */
export function revocationEntriesOf(material: CrlMaterial | undefined): { issuer: string; serial: string }[] {
  return (material?.crls ?? []).flatMap((crl) => crl.entries.map((entry) => ({ issuer: crl.issuer.subject, serial: entry.serialNumber })));
}

/** What `GET /api/settings/edge/mtls` shows of a CRL file, one item per CRL. */
export function describeCrls(material: CrlMaterial): { Issuer: string; CrlNumber: number | null; ThisUpdate: string; NextUpdate: string | null; Entries: number }[] {
  return material.crls.map((crl) => ({ Issuer: crl.issuerText, CrlNumber: crl.crlNumber ?? null, ThisUpdate: crl.thisUpdate.toISOString(), NextUpdate: crl.nextUpdate?.toISOString() ?? null, Entries: crl.entries.length }));
}
