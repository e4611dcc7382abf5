import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { type Finding, type InputFile, diagnoseCertificateSet, tlsProfile, writeFileAtomic } from "@pier/pki";
import { ServerError } from "../errors.ts";
import { type CrlMaterial, type CrlProblem, checkOperatorCrl } from "./crl-material.ts";

/** A CA certificate, server certificate and key sent as PEM text by `PUT /api/settings/edge/mtls`. */
export interface MtlsUpload {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  /** The CA's CRL(s), PEM or base64-less PEM text; enforced in the handshake like `--mtlscrl`. */
  readonly crl?: string;
}

/** The field of the upload a refusal concerns, in the API's names. */
export type MtlsUploadField = "CaCert" | "Cert" | "Key" | "Crl";

/** Why an upload was refused: `ServerError("tls_material_invalid")` carries `field` and `fix`, and `code` as `details.finding`. */
export interface MtlsUploadRefusal {
  readonly field: MtlsUploadField;
  readonly code: Finding["code"] | CrlProblem["code"] | "missing" | "refused_by_node";
  readonly fix: string;
}

/** The uploaded set's files under `DATA/mtls/`. */
export interface MtlsUploadPaths {
  readonly dir: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** Where the CRL goes; it is optional, see `findUploadedMtls`. */
  readonly crlPath: string;
}

/** Where an uploaded set lives: `DATA/mtls/ca.crt`, `server.crt`, `server.key`, and `crl.pem` when one was given. */
export function mtlsUploadPaths(dataDir: string): MtlsUploadPaths {
  const dir = join(dataDir, "mtls");
  return { dir, caPath: join(dir, "ca.crt"), certPath: join(dir, "server.crt"), keyPath: join(dir, "server.key"), crlPath: join(dir, "crl.pem") };
}

/** The uploaded set, when its three files are there, with `crlPath` only when it has a CRL. */
export function findUploadedMtls(dataDir: string): (Omit<MtlsUploadPaths, "crlPath"> & { readonly crlPath?: string }) | undefined {
  const { crlPath, ...paths } = mtlsUploadPaths(dataDir);
  if (![paths.caPath, paths.certPath, paths.keyPath].every((path) => existsSync(path))) return undefined;
  return existsSync(crlPath) ? { ...paths, crlPath } : paths;
}

// The doctor names files in its messages; these are the names the set gets on disk.
const fileNames: Readonly<Record<MtlsUploadField, string>> = { CaCert: "ca.crt", Cert: "server.crt", Key: "server.key", Crl: "crl.pem" };
const labels: Readonly<Record<MtlsUploadField, string>> = { CaCert: "CA certificate", Cert: "TLS certificate", Key: "TLS key", Crl: "CRL" };

/** A refusal as the error the route answers 422 with: `{code: "tls_material_invalid", message, field, fix, details: {finding}}`. */
export function refuseUpload(refusal: MtlsUploadRefusal, message: string): ServerError {
  return new ServerError("tls_material_invalid", message, { field: refusal.field, fix: refusal.fix, details: { finding: refusal.code } });
}

/** The refusal carried by an error from `checkMtlsUpload` or `saveMtlsUpload`, if it is one. */
export function uploadRefusalOf(error: unknown): MtlsUploadRefusal | undefined {
  if (!(error instanceof ServerError) || error.code !== "tls_material_invalid") return undefined;
  const { field, fix } = error;
  const finding = error.details?.["finding"];
  if ((field !== "CaCert" && field !== "Cert" && field !== "Key" && field !== "Crl") || typeof finding !== "string" || fix === undefined) return undefined;
  return { field, code: finding as MtlsUploadRefusal["code"], fix };
}

/**
 * Checks an uploaded set the way `pier doctor --role server --ca` does (the CA is a CA, the
 * certificate is valid now, allowed for serverAuth, has names and was issued by the CA, the key
 * matches it…), then that Node's TLS accepts it. Throws the first problem as
 * `tls_material_invalid` with the field it concerns; warnings are returned.
 *
 * @example
 * const warnings = checkMtlsUpload({ caCert, cert, key });
 */
export function checkMtlsUpload(upload: MtlsUpload, now = new Date()): string[] {
  const texts: Record<MtlsUploadField, string> = { CaCert: upload.caCert, Cert: upload.cert, Key: upload.key, Crl: upload.crl ?? "" };
  const input = (field: MtlsUploadField): InputFile => ({ path: fileNames[field], data: Buffer.from(texts[field]) });
  const inputs = { CaCert: input("CaCert"), Cert: input("Cert"), Key: input("Key") };
  for (const field of ["CaCert", "Cert", "Key"] as const) {
    if (texts[field].trim() === "") {
      throw refuseUpload({ field, code: "missing", fix: `choose the ${labels[field]} file (PEM)` }, `${labels[field]}: none was given; the separate mTLS certificate needs the CA certificate, TLS certificate and TLS key.`);
    }
  }
  const report = diagnoseCertificateSet({ ca: inputs.CaCert, cert: inputs.Cert, key: inputs.Key, role: "server", now });
  const fieldOf = (finding: Finding): MtlsUploadField => (finding.file === fileNames.CaCert ? "CaCert" : finding.file === fileNames.Key ? "Key" : "Cert");
  const problem = report.findings.find((finding) => finding.severity === "error");
  if (problem) {
    const field = fieldOf(problem);
    throw refuseUpload({ field, code: problem.code, fix: problem.fix }, `${labels[field]}: ${problem.problem}`);
  }
  try {
    createSecureContext({ ...tlsProfile, cert: inputs.Cert.data, key: inputs.Key.data, ca: inputs.CaCert.data });
  } catch (error) {
    throw refuseUpload({ field: "Cert", code: "refused_by_node", fix: "check the set with: pier doctor --role server --ca ca.crt --cert server.crt --key server.key" }, `${labels.Cert}: Node's TLS refuses this certificate, key or CA (${(error as Error).message}).`);
  }
  if (upload.crl !== undefined && upload.crl.trim() !== "") checkUploadedCrl(upload.crl, upload.caCert, now);
  return report.findings.filter((finding) => finding.severity === "warning").map((finding) => `${labels[fieldOf(finding)]}: ${finding.problem} — ${finding.fix}`);
}

/**
 * Checks an uploaded CRL against the uploaded CA like `--mtlscrl` (signed by the CA, current, a
 * CRL for every CA of the file); throws the first problem as `tls_material_invalid` with field `Crl`.
 *
 * @example
 * const crl = checkUploadedCrl(crlPem, caPem);
 */
export function checkUploadedCrl(crl: string, caCert: string, now = new Date()): CrlMaterial {
  const checked = checkOperatorCrl({ crl: { path: fileNames.Crl, data: Buffer.from(crl) }, ca: { path: fileNames.CaCert, data: Buffer.from(caCert) }, now });
  if (!Array.isArray(checked)) return checked;
  const [problem] = checked;
  throw refuseUpload({ field: "Crl", code: problem!.code, fix: problem!.fix }, `${labels.Crl}: ${problem!.problem}`);
}

/**
 * Writes an uploaded set to `DATA/mtls/` as a whole: the files go to a new 0700 directory
 * (the key 0600, each written atomically), which then takes the place of the old one, so a
 * reader never sees a mix of two sets. Check it with `checkMtlsUpload` first.
 */
export function saveMtlsUpload(dataDir: string, upload: MtlsUpload): MtlsUploadPaths {
  const paths = mtlsUploadPaths(dataDir);
  const suffix = randomBytes(6).toString("hex");
  const staging = `${paths.dir}.new-${suffix}`;
  mkdirSync(staging, { mode: 0o700 });
  try {
    writeFileAtomic(join(staging, "ca.crt"), upload.caCert, 0o644);
    writeFileAtomic(join(staging, "server.crt"), upload.cert, 0o644);
    writeFileAtomic(join(staging, "server.key"), upload.key, 0o600);
    if (upload.crl !== undefined && upload.crl.trim() !== "") writeFileAtomic(join(staging, "crl.pem"), upload.crl, 0o644);
    const old = `${paths.dir}.old-${suffix}`;
    if (existsSync(paths.dir)) renameSync(paths.dir, old);
    renameSync(staging, paths.dir);
    rmSync(old, { recursive: true, force: true });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new ServerError("internal", `Cannot save the mTLS certificates in ${paths.dir}: ${(error as Error).message}`, { cause: error });
  }
  return paths;
}

/**
 * Writes (atomically) or, with undefined, deletes the uploaded set's `crl.pem`; returns its
 * path when there is one. Check it with `checkUploadedCrl` first.
 */
export function saveUploadedCrl(dataDir: string, crl: string | undefined): string | undefined {
  const { crlPath } = mtlsUploadPaths(dataDir);
  try {
    if (crl === undefined) rmSync(crlPath, { force: true });
    else writeFileAtomic(crlPath, crl, 0o644);
  } catch (error) {
    throw new ServerError("internal", `Cannot save the CRL in ${crlPath}: ${(error as Error).message}`, { cause: error });
  }
  return crl === undefined ? undefined : crlPath;
}

/** Deletes the uploaded set, if any. */
export function removeMtlsUpload(dataDir: string): void {
  rmSync(mtlsUploadPaths(dataDir).dir, { recursive: true, force: true });
}
