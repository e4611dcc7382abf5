import { execFile } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { CertificateAuthority, caPaths, loadPrivateKey, spkiSha256 } from "@pier/pki";
import { postgresBin } from "../postgres.ts";
import { pierBinary } from "../run.ts";

/** One integrity check's verdict: what was checked and, when it failed, what was found. */
export interface IntegrityVerdict {
  readonly ok: boolean;
  readonly detail: string;
}

/** Runs a program to completion without blocking the event loop (agents in this process keep their timers). */
function runAsync(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ status, output: `${stdout}${stderr}${error !== null && typeof error.code !== "number" ? error.message : ""}`.trim() });
    });
  });
}

/**
 * Copies a crashed server's SQLite store (`pier.db` and its `-wal`, not the shared-memory index,
 * which SQLite rebuilds) into `checkDir`: the checks open the copy, so the original stays exactly
 * as the crash left it and the restarted server recovers its WAL itself.
 */
export function copyCrashedSqlite(dataDir: string, checkDir: string): string {
  mkdirSync(checkDir, { recursive: true });
  const copy = join(checkDir, "pier.db");
  copyFileSync(join(dataDir, "pier.db"), copy);
  if (existsSync(join(dataDir, "pier.db-wal"))) copyFileSync(join(dataDir, "pier.db-wal"), `${copy}-wal`);
  return copy;
}

/** Copies the built-in CA's directory as the crash left it (modes kept) to `copyDir`; returns `copyDir`. */
export function copyCa(caDir: string, copyDir: string): string {
  cpSync(caDir, copyDir, { recursive: true, preserveTimestamps: true });
  return copyDir;
}

/** `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on a SQLite file (a copy: opening replays its WAL). */
export function sqliteIntegrity(path: string): IntegrityVerdict {
  const db = new DatabaseSync(path);
  try {
    const integrity = db.prepare("PRAGMA integrity_check").all().map((row) => String(row["integrity_check"]));
    const foreignKeys = db.prepare("PRAGMA foreign_key_check").all();
    const ok = integrity.length === 1 && integrity[0] === "ok" && foreignKeys.length === 0;
    return { ok, detail: `integrity_check: ${integrity.slice(0, 5).join("; ")}; foreign_key_check: ${foreignKeys.length === 0 ? "no violation" : JSON.stringify(foreignKeys.slice(0, 5))}` };
  } finally {
    db.close();
  }
}

/**
 * `pg_amcheck --heapallindexed` on one database (every table's heap and every B-tree index,
 * installing the amcheck extension it needs), over TCP with the superuser's URL.
 */
export async function postgresIntegrity(adminUrl: string, database: string): Promise<IntegrityVerdict> {
  const url = new URL(adminUrl);
  const env = { PGHOST: url.hostname, PGPORT: url.port, PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password) };
  const result = await runAsync(join(postgresBin, "pg_amcheck"), ["--install-missing", "--heapallindexed", "--parent-check", "--database", database], env);
  return { ok: result.status === 0 && result.output === "", detail: `pg_amcheck --heapallindexed --parent-check ${database}: exit ${result.status}${result.output === "" ? ", no corruption reported" : `: ${result.output.slice(0, 1000)}`}` };
}

/** `pier audit verify` (the activity log's hash chain, every entry in id order) on a store. */
export async function auditChainIntegrity(target: { readonly dataDir: string } | { readonly databaseUrl: string }): Promise<IntegrityVerdict> {
  const args = "dataDir" in target ? ["audit", "verify", "--data", target.dataDir] : ["audit", "verify", "--database-url", target.databaseUrl];
  const result = await runAsync(pierBinary, args);
  return { ok: result.status === 0, detail: `pier audit verify: exit ${result.status}: ${result.output.split("\n").slice(0, 3).join(" ")}` };
}

/**
 * The built-in CA in `caDir` as a crash left it: `ca.crt` and `ca-state.json` read (`open`),
 * the key read and matching the certificate, every indexed serial's certificate file present,
 * the key and state owner-only (0600).
 */
export function caIntegrity(caDir: string): IntegrityVerdict {
  const problems: string[] = [];
  let serials = 0;
  try {
    const ca = CertificateAuthority.open(caDir);
    const paths = caPaths(caDir);
    const key = loadPrivateKey(readFileSync(paths.key));
    if (spkiSha256(key) !== spkiSha256(ca.certificate.publicKey)) problems.push("ca.key does not match ca.crt");
    const listed = ca.list();
    serials = listed.length;
    const files = existsSync(paths.issued) ? new Set(readdirSync(paths.issued)) : new Set<string>();
    for (const entry of listed) if (!files.has(`${entry.serialNumber}.crt`)) problems.push(`serial ${entry.serialNumber} is indexed without its certificate file`);
    for (const file of [paths.key, paths.state]) {
      const mode = statSync(file).mode & 0o777;
      if (mode !== 0o600) problems.push(`${file} has mode ${mode.toString(8)}, not 600`);
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  return { ok: problems.length === 0, detail: problems.length === 0 ? `key matches certificate, ${serials} indexed serial(s) with their files, key and state 0600` : problems.slice(0, 5).join("; ") };
}

/** Removes a check directory made by `copyCrashedSqlite`. */
export function removeCheckDir(checkDir: string): void {
  rmSync(checkDir, { recursive: true, force: true });
}
