import { createHash, randomBytes } from "node:crypto";
import { ServerError } from "../errors.ts";
import type { ApiToken, ApiTokenStore } from "../store/store.ts";

/** Every Pier access token starts with this, so secret scanners and people can recognise one. */
export const apiTokenPrefix = "pier_";

// 32 random bytes are 43 base64url characters (no padding).
const tokenPattern = /^pier_[A-Za-z0-9_-]{43}$/;

/** How often a token's `lastUsedAt` is written at most, so API calls do not each cost a write. */
export const apiTokenTouchIntervalMs = 60_000;

/** The longest an access token may live: one year. */
export const maximumApiTokenLifetimeDays = 365;
/** An access token's lifetime when none is asked for: 90 days. */
export const defaultApiTokenLifetimeDays = 90;

/** A new access token: `token` is shown to the user once; only `tokenHash` and `prefix` are stored. */
export interface GeneratedApiToken {
  token: string;
  tokenHash: string;
  /** `pier_` and the first 8 random characters, for lists ("pier_AbCdEfGh…"). */
  prefix: string;
}

/**
 * The stored form of a token: hex SHA-256. A plain hash (no salt, no slow KDF) is enough because
 * the token has 256 random bits: nothing can be guessed, and lookup by hash stays one index probe.
 */
export function hashApiToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Makes a new access token: `pier_` followed by 32 random bytes in base64url.
 *
 * @example
 * const { token, tokenHash, prefix } = generateApiToken();
 * await store.apiTokens.create({ userId, description, tokenHash, prefix });
 * // answer `token` once; it cannot be shown again
 */
export function generateApiToken(): GeneratedApiToken {
  const token = `${apiTokenPrefix}${randomBytes(32).toString("base64url")}`;
  return { token, tokenHash: hashApiToken(token), prefix: token.slice(0, apiTokenPrefix.length + 8) };
}

/**
 * Finds the stored token matching an `X-API-Key` value and records its use (at most once a
 * minute). Answers `null` for anything that is not a known token, without telling why; throws
 * `unauthorized` (`details.reason: "expired"`) for a known token past its expiry, which is not
 * recorded as used.
 *
 * @example
 * const apiToken = await verifyApiToken(store.apiTokens, request.header("X-API-Key") ?? "");
 * if (apiToken === null) throw new ServerError("unauthorized", "Invalid access token.");
 */
export async function verifyApiToken(tokens: Pick<ApiTokenStore, "findByHash" | "touch">, presented: string, now: Date = new Date()): Promise<ApiToken | null> {
  if (!tokenPattern.test(presented)) return null;
  const found = await tokens.findByHash(hashApiToken(presented));
  if (found === null) return null;
  if (found.expiresAt.getTime() <= now.getTime()) {
    throw new ServerError("unauthorized", `This access token (${found.prefix}…) expired on ${found.expiresAt.toISOString()}.`, {
      details: { reason: "expired" },
      fix: "Create a new access token (Account in the UI, or POST /api/users/{id}/tokens) and revoke this one.",
    });
  }
  if (found.lastUsedAt === null || now.getTime() - found.lastUsedAt.getTime() >= apiTokenTouchIntervalMs) {
    await tokens.touch(found.id, now);
    return { ...found, lastUsedAt: now };
  }
  return found;
}
