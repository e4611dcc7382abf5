import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createPublicKey } from "node:crypto";
import { recoverInterruptedFinish } from "../identity/rotation-directories.ts";
import {
  CertificateAuthority,
  generateKeyPair,
  loadPrivateKey,
  parseCertificate,
  parsePem,
  parseSanList,
  privateKeyToPem,
  writeFileAtomic,
  type CertificateInfo,
} from "@pier/pki";

/** Where the built-in TLS material lives under `--data`. */
export interface BuiltInTlsPaths {
  readonly caDir: string;
  readonly caCertificate: string;
  readonly certificate: string;
  readonly key: string;
}

/** Renew the built-in server certificate when fewer days than this remain. */
const renewBeforeDays = 30;

function builtInPaths(dataDir: string): BuiltInTlsPaths {
  return {
    caDir: join(dataDir, "ca"),
    caCertificate: join(dataDir, "ca", "ca.crt"),
    certificate: join(dataDir, "tls", "server.crt"),
    key: join(dataDir, "tls", "server.key"),
  };
}

/** The names the built-in certificate covers: this host, localhost, loopback, and any extras. */
export function defaultServerNames(extra: readonly string[] = []): string[] {
  return [...new Set([hostname().toLowerCase(), "localhost", "127.0.0.1", "::1", ...extra.filter((n) => n !== "" && n !== "0.0.0.0" && n !== "::")])];
}

function sanText(name: string): string {
  return /^[\d.]+$/.test(name) || name.includes(":") ? `IP:${name}` : `DNS:${name}`;
}

function needsRenewal(certificate: CertificateInfo, names: readonly string[], now: number, ca: CertificateAuthority): boolean {
  const present = new Set((certificate.extensions.subjectAltNames ?? []).map((s) => s.value));
  // Not from DATA/ca any more: a CA rotation finished and the server stopped before moving it.
  const fromOtherCa = !certificate.x509.checkIssued(ca.certificate.x509) || !certificate.x509.verify(ca.certificate.publicKey);
  return fromOtherCa || certificate.notAfter.getTime() - now < renewBeforeDays * 86_400_000 || names.some((n) => !present.has(n.toLowerCase()));
}

/**
 * Makes sure the server has a certificate from its own built-in CA (first start: creates the
 * CA in `DATA/ca` and a server key and certificate in `DATA/tls`). The server key is kept
 * across renewals, so the SPKI fingerprint pinned in every issued `EDGE_KEY` stays valid.
 */
export async function ensureBuiltInTls(dataDir: string, names: readonly string[]): Promise<BuiltInTlsPaths & { renewed: boolean }> {
  const paths = builtInPaths(dataDir);
  // Before "no CA yet, create one": DATA/ca is briefly absent during a rotation's finish.
  recoverInterruptedFinish(dataDir);
  const ca = existsSync(paths.caCertificate)
    ? CertificateAuthority.open(paths.caDir)
    : await CertificateAuthority.create(paths.caDir, { commonName: `Pier built-in CA (${hostname()})` });
  mkdirSync(join(dataDir, "tls"), { recursive: true, mode: 0o700 });
  if (!existsSync(paths.key)) {
    const { privateKey } = await generateKeyPair("ecdsa-p256");
    writeFileAtomic(paths.key, privateKeyToPem(privateKey), 0o600);
  }
  const now = Date.now();
  if (existsSync(paths.certificate)) {
    const [block] = parsePem(readFileSync(paths.certificate));
    if (block && !needsRenewal(parseCertificate(block.der), names, now, ca)) return { ...paths, renewed: false };
  }
  const publicKey = createPublicKey(loadPrivateKey(readFileSync(paths.key)));
  const issued = await ca.issueForKey(publicKey, {
    profile: "server",
    commonName: names[0] ?? "localhost",
    subjectAltNames: parseSanList(names.map(sanText).join(",")),
    days: 397,
  });
  writeFileAtomic(paths.certificate, issued.certificatePem, 0o644);
  return { ...paths, renewed: true };
}

/**
 * Re-issues the built-in server certificate under `ca` for the same key and the same names
 * (a CA rotation's finish: the `EDGE_KEY` pin, the key's SPKI, holds). Does nothing when the
 * server has no built-in certificate (it runs with `--sslcert`) or it already comes from `ca`.
 *
 * @returns whether `DATA/tls/server.crt` was rewritten
 * @example
 * if (await reissueServerCertificate(dataDir, survivor)) await tls.reload();
 */
export async function reissueServerCertificate(dataDir: string, ca: CertificateAuthority): Promise<boolean> {
  const paths = builtInPaths(dataDir);
  if (!existsSync(paths.certificate) || !existsSync(paths.key)) return false;
  const [block] = parsePem(readFileSync(paths.certificate));
  if (!block) return false;
  const current = parseCertificate(block.der);
  if (current.x509.checkIssued(ca.certificate.x509) && current.x509.verify(ca.certificate.publicKey)) return false;
  const sans = current.extensions.subjectAltNames ?? [];
  const publicKey = createPublicKey(loadPrivateKey(readFileSync(paths.key)));
  const issued = await ca.issueForKey(publicKey, {
    profile: "server",
    commonName: sans[0]?.value ?? "localhost",
    subjectAltNames: sans.length > 0 ? sans : parseSanList("DNS:localhost"),
    days: Math.min(397, Math.floor((ca.certificate.notAfter.getTime() - Date.now()) / 86_400_000)),
  });
  writeFileAtomic(paths.certificate, issued.certificatePem, 0o644);
  return true;
}

/**
 * The built-in CA of `dataDir` (`DATA/ca`), or `undefined` when the server never created one
 * (it runs with `--sslcert`).
 *
 * @example
 * const issued = openBuiltInCa(dataDir)?.list() ?? [];
 */
export function openBuiltInCa(dataDir: string): CertificateAuthority | undefined {
  const paths = builtInPaths(dataDir);
  return existsSync(paths.caCertificate) ? CertificateAuthority.open(paths.caDir) : undefined;
}
