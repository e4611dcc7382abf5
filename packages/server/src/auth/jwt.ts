import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { isRole } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { UserRole } from "../store/store.ts";

/** Session lifetime when none is given: 8 hours. */
export const defaultSessionLifetimeSeconds = 8 * 60 * 60;
/** Tolerated difference between clocks when checking `exp` and `iat`. */
export const clockSkewSeconds = 30;
/** Secrets shorter than this are refused (HS256 wants at least the hash size). */
export const minimumSecretBytes = 32;

/** The claims of a Pier session token, as on the wire. */
export interface SessionClaims {
  /** The user id, as a decimal string (RFC 7519 wants a string). */
  sub: string;
  username: string;
  role: UserRole;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  /** A random token id (RFC 7519 §4.1.7), the key of the logout deny-list. */
  jti: string;
}

/** A verified session. */
export interface Session {
  userId: number;
  username: string;
  role: UserRole;
  issuedAt: Date;
  expiresAt: Date;
  /** The token's `jti`; for tokens signed before ids existed, their signature (as unique). */
  tokenId: string;
}

const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

function checkSecret(secret: Buffer): void {
  if (secret.length < minimumSecretBytes) throw new ServerError("internal", `The session signing secret must be at least ${minimumSecretBytes} bytes.`);
}

function sign(input: string, secret: Buffer): Buffer {
  return createHmac("sha256", secret).update(input).digest();
}

/**
 * Signs a session token (HS256) for a user who just logged in.
 *
 * @example
 * const jwt = signSessionToken({ userId: user.id, username: user.username, role: user.role }, secret);
 * // answer { jwt } to POST /api/auth
 */
export function signSessionToken(
  user: { userId: number; username: string; role: UserRole },
  secret: Buffer,
  options: { now?: Date; lifetimeSeconds?: number } = {},
): string {
  checkSecret(secret);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: SessionClaims = { sub: String(user.userId), username: user.username, role: user.role, iat, exp: iat + (options.lifetimeSeconds ?? defaultSessionLifetimeSeconds), jti: randomBytes(16).toString("base64url") };
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${header}.${payload}.${sign(`${header}.${payload}`, secret).toString("base64url")}`;
}

const invalid = () => new ServerError("unauthorized", "The session token is invalid. Log in again.");
const base64url = /^[A-Za-z0-9_-]+$/;

function decodeJson(part: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // falls through to the same answer as any other malformed token
  }
  throw invalid();
}

/**
 * Verifies a session token: HS256 only (`none` and every other algorithm are refused), signature
 * compared in constant time, expiry and issue time checked with 30 s of clock skew. Every
 * failure is `ServerError("unauthorized")` with a message that reveals nothing about why, except
 * for expiry, which the UI uses to say "your session expired".
 *
 * @example
 * const session = verifySessionToken(bearerToken, secret); // session.userId, session.role
 */
export function verifySessionToken(token: string, secret: Buffer, options: { now?: Date } = {}): Session {
  checkSecret(secret);
  const parts = token.split(".");
  const [headerPart, payloadPart, signaturePart] = parts;
  if (parts.length !== 3 || headerPart === undefined || payloadPart === undefined || signaturePart === undefined) throw invalid();
  if (![headerPart, payloadPart, signaturePart].every((part) => base64url.test(part))) throw invalid();
  const parsedHeader = decodeJson(headerPart);
  if (parsedHeader["alg"] !== "HS256" || (parsedHeader["typ"] !== undefined && parsedHeader["typ"] !== "JWT") || parsedHeader["crit"] !== undefined) throw invalid();
  // Compared as text, not decoded bytes: base64url decoding ignores a final character's spare
  // bits, so several strings decode to the same signature and a decoded comparison would accept them.
  const expected = Buffer.from(sign(`${headerPart}.${payloadPart}`, secret).toString("base64url"));
  const presented = Buffer.from(signaturePart);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalid();

  // Only now, with the signature checked, is the payload ours to believe.
  const claims = decodeJson(payloadPart);
  const { sub, username, role, iat, exp, jti } = claims;
  if (typeof sub !== "string" || !/^[1-9]\d{0,15}$/.test(sub) || typeof username !== "string" || !isRole(role)) throw invalid();
  if (jti !== undefined && (typeof jti !== "string" || !base64url.test(jti))) throw invalid();
  if (typeof iat !== "number" || typeof exp !== "number" || !Number.isFinite(iat) || !Number.isFinite(exp)) throw invalid();
  const now = (options.now ?? new Date()).getTime() / 1000;
  if (iat > now + clockSkewSeconds) throw invalid();
  if (exp <= now - clockSkewSeconds) throw new ServerError("unauthorized", "The session has expired. Log in again.", { details: { reason: "expired" } });
  return { userId: Number(sub), username, role, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000), tokenId: jti ?? signaturePart };
}

/**
 * Reads the session signing secret from `path`, creating it first if missing: 32 random bytes,
 * mode 0600, written to a temporary file and linked into place, so a reader never sees a partial
 * file and two servers starting together agree on one secret. A secret readable by others is
 * narrowed to 0600.
 *
 * @example
 * const secret = loadOrCreateSecret(join(dataDir, "secrets", "jwt.key"));
 */
export function loadOrCreateSecret(path: string): Buffer {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      return readSecret(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const temporary = `${path}.tmp-${randomBytes(6).toString("hex")}`;
    const fd = openSync(temporary, "wx", 0o600);
    try {
      writeSync(fd, randomBytes(minimumSecretBytes));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // link() fails if `path` appeared meanwhile; then the other process's secret wins.
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      unlinkSync(temporary);
    }
    return readSecret(path);
  } catch (error) {
    if (error instanceof ServerError) throw error;
    throw new ServerError("internal", `Cannot read or create the session secret ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function readSecret(path: string): Buffer {
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const secret = readFileSync(path);
  if (secret.length < minimumSecretBytes) {
    throw new ServerError("config_invalid", `The session secret ${path} holds ${secret.length} bytes; it needs at least ${minimumSecretBytes}. Delete it to have Pier create a new one (everyone will have to log in again).`);
  }
  return secret;
}
