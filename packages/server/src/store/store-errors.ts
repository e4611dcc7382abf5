import { ServerError } from "../errors.ts";
import { type DiskLocation, diskFullError, isDiskFullAt } from "./disk-full.ts";

// SQLite extended result codes (https://sqlite.org/rescode.html) and PostgreSQL SQLSTATEs
// (https://www.postgresql.org/docs/current/errcodes-appendix.html) the store tells apart.
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_BUSY = 5;
const PG_UNIQUE_VIOLATION = "23505";
const PG_FOREIGN_KEY_VIOLATION = "23503";

/** Socket errors and server states after which a later attempt may succeed. */
const connectionCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "57P01", "57P02", "57P03"]);
// pg reports these without a code.
const connectionMessages = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /Client has encountered a connection error/i, /Connection refused/i];

function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" ? code : undefined;
}

function postgresCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A unique constraint or primary key was violated (SQLite 2067 or 1555, PostgreSQL 23505). */
export function isUniqueViolation(error: unknown): boolean {
  const sqlite = sqliteCode(error);
  return sqlite === SQLITE_CONSTRAINT_UNIQUE || sqlite === SQLITE_CONSTRAINT_PRIMARYKEY || postgresCode(error) === PG_UNIQUE_VIOLATION;
}

/** A foreign key was violated (SQLite 787, PostgreSQL 23503). */
export function isForeignKeyViolation(error: unknown): boolean {
  return sqliteCode(error) === SQLITE_CONSTRAINT_FOREIGNKEY || postgresCode(error) === PG_FOREIGN_KEY_VIOLATION;
}

/** The connection to the database failed or was lost (refused, reset, server shut down, class 08). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = postgresCode(error);
  if (code !== undefined && (connectionCodes.has(code) || code.startsWith("08"))) return true;
  return connectionMessages.some((pattern) => pattern.test(error.message));
}

/**
 * Turns anything an engine throws into a `ServerError` whose message says what to do: a unique
 * violation left unmapped by the caller is `conflict`, a lost connection or a locked SQLite file
 * `unavailable`, a full disk `disk_full` naming `location` (store/disk-full.ts), anything else
 * `store_failed`. ServerErrors pass through unchanged. Callers map
 * the violations they expect (naming the field) before this.
 *
 * @example
 * try { await query(); } catch (error) { throw storeError(error); }
 */
export function storeError(error: unknown, location?: DiskLocation): ServerError {
  if (error instanceof ServerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // Before the lost-connection test: a full disk is the operator's to fix, not a retry's.
  if (location !== undefined && isDiskFullAt(error, location)) return diskFullError(location, error);
  const errcode = sqliteCode(error);
  if (errcode !== undefined && (errcode & 0xff) === SQLITE_BUSY) {
    return new ServerError("unavailable", "The database is locked by another process; try again in a moment.", { cause: error });
  }
  if (isConnectionError(error)) return databaseUnreachable(error);
  if (isUniqueViolation(error)) return new ServerError("conflict", `This record already exists: ${message}.`, { cause: error });
  return new ServerError("store_failed", `The database failed: ${message}`, { cause: error });
}

/** The `Retry-After` (s) a request refused because the database cannot be reached asks for. */
export const databaseRetryAfterSeconds = 5;

/**
 * The one answer to a request that needed the database while it cannot be reached (PostgreSQL
 * stopped, restarting, the network to it down): 503 `unavailable` with `Retry-After`, saying what
 * happened and what to do, the same for every route and every engine error behind it. The
 * driver's own text (`connect ECONNREFUSED …`, `Connection terminated`) stays in `cause`, for
 * the server log (`DatabaseAvailability` says it once per outage), not in the answer.
 *
 * @example
 * throw databaseUnreachable(error);
 */
export function databaseUnreachable(cause: unknown): ServerError {
  return new ServerError("unavailable", "Pier's database cannot be reached right now, so this request could not be carried out.", {
    cause,
    fix: `Try again in ${databaseRetryAfterSeconds} s: Pier reconnects by itself, and agents stay connected meanwhile. If it lasts, check that PostgreSQL is running and reachable from every replica (the server log names the database and the cause).`,
    details: { retryAfterSeconds: databaseRetryAfterSeconds, reason: "database_unreachable" },
  });
}

/** Whether `error` is `databaseUnreachable`'s (background work logs it once, through the store, rather than at every attempt). */
export function isDatabaseUnreachable(error: unknown): boolean {
  return error instanceof ServerError && error.code === "unavailable" && error.details?.["reason"] === "database_unreachable";
}

/** The store's error for a value it cannot read back. */
export function corrupt(what: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable value (${what}); restore a backup or remove the record.`);
}
