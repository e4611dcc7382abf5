import { statfsSync } from "node:fs";
import { ServerError } from "../errors.ts";

// SQLite's primary result code for "database or disk is full" (https://sqlite.org/rescode.html#full),
// PostgreSQL's SQLSTATE disk_full (class 53, insufficient resources).
const SQLITE_FULL = 13;
const PG_DISK_FULL = "53100";
const fileSystemCodes = new Set(["ENOSPC", "EDQUOT"]);

/**
 * Whether `error` (or its cause) says the disk is full: SQLite's SQLITE_FULL, a file write's
 * ENOSPC or EDQUOT (a quota), PostgreSQL's 53100.
 *
 * @example
 * if (isDiskFull(error)) notice.report(error);
 */
export function isDiskFull(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === "object" && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (current instanceof ServerError) return current.code === "disk_full";
    const errcode = (current as { errcode?: unknown }).errcode;
    if (typeof errcode === "number" && (errcode & 0xff) === SQLITE_FULL) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (fileSystemCodes.has(code) || code === PG_DISK_FULL)) return true;
  }
  return false;
}

// SQLite's primary code of its I/O errors (SQLITE_IOERR_*): how a full disk shows when SQLite
// grows its shared-memory index (SQLITE_IOERR_SHMSIZE at open) or writes its WAL.
const SQLITE_IOERR = 10;
/** Free bytes under which an I/O error of SQLite on the data directory counts as the disk being full. */
const lowSpaceBytes = 1024 * 1024;

/**
 * `isDiskFull`, or an I/O error of SQLite on a data directory with (almost) no room left: a
 * server started on a full disk failed with "disk I/O error" (SQLITE_IOERR_SHMSIZE), which said
 * nothing of the disk.
 *
 * @example
 * if (isDiskFullAt(error, { dataDir })) throw diskFullError({ dataDir }, error);
 */
export function isDiskFullAt(error: unknown, location: DiskLocation): boolean {
  if (isDiskFull(error)) return true;
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  if (typeof errcode !== "number" || (errcode & 0xff) !== SQLITE_IOERR || !("dataDir" in location)) return false;
  const free = freeBytesOf(location.dataDir);
  return free !== undefined && free < lowSpaceBytes;
}

/** Where the server's writes go, as a full-disk error names it. */
export type DiskLocation = { readonly dataDir: string } | { readonly postgres: string };

/**
 * The one error of a write refused because the disk is full: 507 `disk_full`, naming the disk
 * (the data directory, or the PostgreSQL database) and saying that Pier recovers by itself.
 * Reads (pages, lists, logins) keep working; only changes are refused.
 *
 * @example
 * throw diskFullError({ dataDir: "/var/lib/pier" }, error);
 */
export function diskFullError(location: DiskLocation, cause?: unknown): ServerError {
  const options = cause === undefined ? {} : { cause };
  if ("postgres" in location) {
    return new ServerError("disk_full", `PostgreSQL's disk is full (${location.postgres}, SQLSTATE 53100): changes cannot be saved until there is room (pages and lists keep working).`, {
      ...options,
      fix: "Free space on the database server's disk (its data directory or the volume under it). Pier saves again by itself as soon as PostgreSQL has room, without a restart.",
      details: { disk: location.postgres },
    });
  }
  return new ServerError("disk_full", `The disk holding Pier's data directory ${location.dataDir} is full: changes cannot be saved until there is room (pages and lists keep working).`, {
    ...options,
    fix: `Free space on the disk of ${location.dataDir} (df -h ${location.dataDir}), or give it a larger volume. Pier saves again by itself as soon as there is room, without a restart.`,
    details: { disk: location.dataDir },
  });
}

/** Options of `DiskFullNotice`. */
export interface DiskFullNoticeOptions {
  readonly log: (level: "info" | "error", message: string) => void;
  /** Free bytes on the disk (statfs of the data directory); absent where the server cannot see it (PostgreSQL). */
  readonly freeBytes?: () => number | undefined;
  /** How often free space is read while the disk is full (ms, default 1000). */
  readonly pollMs?: number;
  /** Free bytes from which the disk counts as having room again (default 1 MiB). */
  readonly roomBytes?: number;
}

/**
 * Says once that the disk is full, and once that there is room again, however many writes fail
 * in between (heartbeat flushes, audit appends and API writes all failed at once, every few
 * seconds). While full it reads the free space every second (statfs, no write) and says when
 * there is room again; on PostgreSQL, whose disk the server cannot see, it says it at most once
 * a minute.
 *
 * @example
 * const notice = new DiskFullNotice({ log, freeBytes: () => freeBytesOf(dataDir) });
 * await openStore({ path }, { onDiskFull: (error) => notice.report(error) });
 */
export class DiskFullNotice {
  readonly #options: DiskFullNoticeOptions;
  #full: { readonly since: number; readonly disk: string; readonly timer: NodeJS.Timeout } | undefined;

  constructor(options: DiskFullNoticeOptions) {
    this.#options = options;
  }

  /** Whether a write failed for a full disk and no room has been seen since. */
  get full(): boolean {
    return this.#full !== undefined;
  }

  /** A write was refused with `error` (`diskFullError`'s): if nothing said so yet, say it. */
  report(error: ServerError): void {
    if (this.#full !== undefined || error.code !== "disk_full") return;
    // Without a disk to read (PostgreSQL), it may be said again a minute later if writes still fail.
    const timer = this.#options.freeBytes === undefined ? setTimeout(() => (this.#full = undefined), 60_000) : setInterval(() => this.#poll(), this.#options.pollMs ?? 1000);
    timer.unref();
    const disk = error.details?.["disk"];
    this.#full = { since: Date.now(), disk: typeof disk === "string" ? disk : "the data directory", timer };
    this.#options.log("error", `${error.message} ${error.fix ?? ""} Heartbeats wait in memory and are saved once there is room.`);
  }

  /** Stops watching (at shutdown). */
  close(): void {
    if (this.#full !== undefined) clearInterval(this.#full.timer);
  }

  #poll(): void {
    const full = this.#full;
    const free = this.#options.freeBytes?.();
    if (full === undefined || free === undefined || free < (this.#options.roomBytes ?? 1024 * 1024)) return;
    clearInterval(full.timer);
    this.#full = undefined;
    this.#options.log("info", `the disk holding ${full.disk} has room again (${Math.floor(free / 1024)} KiB free) after ${Math.round((Date.now() - full.since) / 1000)} s full: changes are saved again.`);
  }
}

/**
 * Free bytes for an unprivileged process on the file system of `path` (statfs), or `undefined`
 * when it cannot be read.
 */
export function freeBytesOf(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}
