import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { CertificateAuthority, spkiSha256 } from "@pier/pki";
import { ServerError } from "../errors.ts";

/**
 * The built-in CA's directories under `--data` during a rotation (docs/identity.md
 * "CA rotation"): `DATA/ca/` is the CA in force, `DATA/ca-next/` the one a rotation creates,
 * `DATA/ca-retired-<time>/` every CA a finished rotation (or rollback) dropped.
 */
export interface RotationDirectories {
  readonly current: string;
  readonly next: string;
}

/** Where the rotation's CAs live under `dataDir`. */
export function rotationDirectories(dataDir: string): RotationDirectories {
  return { current: join(dataDir, "ca"), next: join(dataDir, "ca-next") };
}

/** SPKI SHA-256 (hex) of a CA's key: how the rotation's row names a CA. */
export function caFingerprint(ca: CertificateAuthority): string {
  return spkiSha256(ca.certificate.publicKey);
}

/** The CA in `dir`, or `undefined` when the directory holds none. */
export function openCaIn(dir: string): CertificateAuthority | undefined {
  return existsSync(join(dir, "ca.crt")) ? CertificateAuthority.open(dir) : undefined;
}

/**
 * Creates the next CA in `DATA/ca-next/`. Its name carries the time, so the two CAs of a
 * rotation never share a subject (chain building then never has to guess by key identifier).
 */
export async function createNextCa(dataDir: string, now = new Date()): Promise<CertificateAuthority> {
  const { next } = rotationDirectories(dataDir);
  // A CA left there by a start that crashed before its phase was written: never reused, never
  // deleted (it holds a key), kept aside like any dropped CA.
  if (existsSync(next)) retireDirectory(dataDir, next, now);
  return CertificateAuthority.create(next, { commonName: `Pier built-in CA (${hostname()}) ${now.toISOString().slice(0, 19)}Z` });
}

/**
 * Moves a CA directory to `DATA/ca-retired-<time>/` (rename: atomic) and returns the new path.
 * Retired CAs are kept, never trusted: they let the server recognise a device that slept
 * through a rotation.
 */
export function retireDirectory(dataDir: string, dir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, "-");
  let target = join(dataDir, `ca-retired-${stamp}`);
  for (let n = 2; existsSync(target); n++) target = join(dataDir, `ca-retired-${stamp}-${n}`);
  renameSync(dir, target);
  syncDirectory(dataDir);
  return target;
}

function syncDirectory(dir: string): void {
  // The renames must reach the disk before the database says they happened.
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The renames of a rotation's finish, from whatever state a crash left them in, so that the
 * CA whose SPKI is `survivor` ends in `DATA/ca/` and the other one in `DATA/ca-retired-*`.
 * Each step is one rename; the function can run again after a crash at any point.
 *
 * @returns the retired directory when this call moved one
 */
export function completeFinishRenames(dataDir: string, survivor: string, now = new Date()): string | undefined {
  const dirs = rotationDirectories(dataDir);
  const current = openCaIn(dirs.current);
  const next = openCaIn(dirs.next);
  const nextSurvives = next !== undefined && caFingerprint(next) === survivor;
  // Nothing moves unless the surviving CA is where it should be: never retire the only CA.
  if (!nextSurvives && (!current || caFingerprint(current) !== survivor)) {
    throw new ServerError("internal", `The CA rotation cannot finish: neither ${dirs.current} nor ${dirs.next} holds the CA with key ${survivor.slice(0, 16)}… that should survive it. Restore them from a backup.`);
  }
  let retired: string | undefined;
  if (nextSurvives) {
    if (current) retired = retireDirectory(dataDir, dirs.current, now);
    renameSync(dirs.next, dirs.current);
    syncDirectory(dataDir);
  } else if (next) {
    // A rollback's finish: the new CA is the one dropped.
    retired = retireDirectory(dataDir, dirs.next, now);
  }
  return retired;
}

/**
 * Completes the one interruption that would make the server think it has no CA: a finish that
 * crashed between its two renames (`DATA/ca/` gone, `DATA/ca-next/` there). Runs before the
 * built-in TLS is loaded, which would otherwise create a fresh CA in the empty place.
 *
 * @returns whether it renamed
 */
export function recoverInterruptedFinish(dataDir: string): boolean {
  const dirs = rotationDirectories(dataDir);
  if (existsSync(join(dirs.current, "ca.crt")) || !existsSync(join(dirs.next, "ca.crt"))) return false;
  if (existsSync(dirs.current)) retireDirectory(dataDir, dirs.current);
  renameSync(dirs.next, dirs.current);
  syncDirectory(dataDir);
  return true;
}

/** The CAs earlier rotations dropped (`DATA/ca-retired-*`), oldest first. */
export function retiredAuthorities(dataDir: string): CertificateAuthority[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir)
    .filter((name) => name.startsWith("ca-retired-"))
    .sort()
    .flatMap((name) => openCaIn(join(dataDir, name)) ?? []);
}
