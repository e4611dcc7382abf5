import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { type CertificateInfo, type Finding, type InputFile, diagnoseCertificateSet, parseCertificate, parsePem, tlsProfile } from "@pier/pki";
import { ServerError } from "../errors.ts";
import { type CrlMaterial, type CrlProblem, checkOperatorCrl } from "./crl-material.ts";

/** Where a certificate, its key and (optionally) a CA bundle live on disk. */
export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  /** For a server: the CA that client certificates must chain to (not the server's own CA). */
  readonly caPath?: string;
  /** With `caPath`: the operator's CRL(s) for the client CA (`--mtlscrl`, `--sslcrl`, the upload). */
  readonly crlPath?: string;
}

/** What `loadTlsMaterial` reads, and the role the certificate must be fit for. */
export interface TlsMaterialRequest extends TlsFiles {
  readonly role: "server";
  /** The instant the certificates must be valid at; defaults to now. */
  readonly now?: Date;
}

/** A certificate, key and CA bundle that passed the doctor's checks, ready for a secure context. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  /** The client CA's CRLs, checked, when `crlPath` was given. */
  readonly crl?: CrlMaterial;
  /** The leaf certificate (the first one in `cert`). */
  readonly certificate: CertificateInfo;
  /** The certificate's DNS and IP subjectAltNames. */
  readonly names: string[];
  /** SHA-256 of the leaf's SubjectPublicKeyInfo, lowercase hex. */
  readonly spkiSha256: string;
  /** Findings that do not stop the material from working, as `file: problem — fix` lines. */
  readonly warnings: string[];
}

/** One reason the material is unusable: a doctor finding, or a file that cannot be read or loaded. */
export interface TlsMaterialProblem {
  readonly code: Finding["code"] | CrlProblem["code"] | "unreadable" | "refused_by_node";
  readonly file: string;
  readonly problem: string;
  readonly fix: string;
}

const describeProblem = (problem: TlsMaterialProblem) => `${problem.file}: ${problem.problem} — ${problem.fix}`;

async function readInput(path: string): Promise<InputFile | TlsMaterialProblem> {
  try {
    return { path, data: await readFile(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    if (code === "EACCES") {
      // Typical in the pier-server image, which runs as uid 10001, with key files made by root.
      const uid = process.getuid?.();
      const who = uid === undefined ? "the server's user" : `uid ${uid}, the server's user`;
      return { code: "unreadable", file: path, problem: `cannot be read (EACCES: permission denied to ${who})`, fix: `make it readable by that user and its directories searchable (for a file mounted from the host: chown ${uid ?? "<uid>"} the host's file, keeping mode 0600)` };
    }
    return { code: "unreadable", file: path, problem: `cannot be read (${code})`, fix: "check the path and that the server's user may read the file" };
  }
}

const isProblem = (value: InputFile | TlsMaterialProblem | undefined): value is TlsMaterialProblem => value !== undefined && "problem" in value;

/** Everything the doctor says about the set; the CA file is checked on its own (see below). */
function diagnose(cert: InputFile, key: InputFile, ca: InputFile | undefined, now: Date): Finding[] {
  const findings = diagnoseCertificateSet({ cert, key, role: "server", now }).findings;
  if (ca) {
    // A server's CA file names the CAs its *clients* come from, so the server certificate need
    // not chain to it: keep only what the doctor says about the CA file itself.
    const caFindings = diagnoseCertificateSet({ ca, cert, role: "server", now }).findings.filter((f) => f.file === ca.path);
    const seen = new Set(findings.map(describeProblem));
    findings.push(...caFindings.filter((f) => !seen.has(describeProblem(f))));
  }
  return findings;
}

/** Node must accept what the doctor accepted; anything it still refuses is reported too. */
function checkSecureContext(cert: InputFile, key: InputFile, ca: InputFile | undefined, crl: CrlMaterial | undefined): TlsMaterialProblem | undefined {
  try {
    createSecureContext({ ...tlsProfile, cert: cert.data, key: key.data, ...(ca ? { ca: ca.data } : {}), ...(crl ? { crl: [...crl.pems] } : {}) });
    return undefined;
  } catch (error) {
    return { code: "refused_by_node", file: cert.path, problem: `Node's TLS refuses this certificate, key or CA (${(error as Error).message})`, fix: `check the files with: pier doctor --cert ${cert.path} --key ${key.path}` };
  }
}

function failure(problems: TlsMaterialProblem[]): ServerError {
  const listed = problems.map(({ code, file, problem, fix }) => ({ code, file, problem, fix }));
  return new ServerError("tls_material_invalid", problems.map(describeProblem).join("\n"), { details: { problems: listed } });
}

/**
 * Reads a server's certificate, key and client CA bundle, and checks them the way `pier doctor`
 * does: the key matches, the certificate is valid now and allowed for serverAuth, and the CA
 * file holds CA certificates. Every problem is reported at once, one `file: problem — fix` line
 * each, in a `tls_material_invalid` error whose `details.problems` lists them as data.
 *
 * @example
 * const material = await loadTlsMaterial({ certPath: "tls/server.crt", keyPath: "tls/server.key", role: "server" });
 * console.log(material.names, material.spkiSha256);
 */
export async function loadTlsMaterial(request: TlsMaterialRequest): Promise<TlsMaterial> {
  const [cert, key, ca, crlFile] = await Promise.all([
    readInput(request.certPath),
    readInput(request.keyPath),
    request.caPath === undefined ? undefined : readInput(request.caPath),
    request.crlPath === undefined ? undefined : readInput(request.crlPath),
  ]);
  if (isProblem(cert) || isProblem(key) || isProblem(ca) || isProblem(crlFile)) throw failure([cert, key, ca, crlFile].filter(isProblem));

  const now = request.now ?? new Date();
  const findings = diagnose(cert, key, ca, now);
  const errors: TlsMaterialProblem[] = findings.filter((f) => f.severity === "error");
  let crl: CrlMaterial | undefined;
  if (crlFile) {
    const checked = ca ? checkOperatorCrl({ crl: crlFile, ca, now }) : [{ code: "crl_without_ca" as const, file: crlFile.path, problem: "a CRL was given without the CA file it belongs to", fix: "give the client CA too (--mtlscacert with --mtlscrl, --sslcacert with --sslcrl)" }];
    if (Array.isArray(checked)) errors.push(...checked);
    else crl = checked;
  }
  if (errors.length === 0) {
    const refused = checkSecureContext(cert, key, ca, crl);
    if (refused) errors.push(refused);
  }
  if (errors.length > 0) throw failure(errors);

  const [leaf] = parsePem(cert.data).filter((block) => block.label === "CERTIFICATE");
  const certificate = parseCertificate(leaf!.der);
  const names = (certificate.extensions.subjectAltNames ?? []).filter((san) => san.type === "dns" || san.type === "ip").map((san) => san.value);
  return {
    cert: cert.data,
    key: key.data,
    ...(ca ? { ca: ca.data } : {}),
    ...(crl ? { crl } : {}),
    certificate,
    names,
    spkiSha256: certificate.spkiSha256,
    warnings: findings.filter((f) => f.severity === "warning").map(describeProblem),
  };
}
