import { createHash, timingSafeEqual } from "node:crypto";
import { ServerError } from "../errors.ts";

/**
 * The web UI's session in cookies (docs/security.md "Browser sessions"): the JWT of `POST
 * /api/auth` in an HttpOnly cookie script cannot read, and beside it a CSRF token the UI reads
 * and sends back as `X-CSRF-Token` with every request that changes something (signed double
 * submit: the token is the SHA-256 of the session's JWT, so a cookie planted by another origin
 * cannot match a session it does not know). Both `__Host-`: Secure, Path=/, no Domain, so a
 * sibling host cannot set or overwrite them; `SameSite=Strict`: no other site's page sends them.
 */
export const sessionCookieName = "__Host-pier_session";
/** The CSRF token's cookie, readable by the UI's script. */
export const csrfCookieName = "__Host-pier_csrf";
/** The header that carries the CSRF token back. */
export const csrfHeaderName = "x-csrf-token";

/** The longest `Cookie` header read: a JWT is ~300 bytes; anything longer is not Pier's. */
const maxCookieHeaderBytes = 8192;

const safeMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** The CSRF token that goes with a session's JWT. */
export function csrfTokenOf(jwt: string): string {
  return createHash("sha256").update(`pier-csrf:${jwt}`).digest("base64url");
}

function cookie(name: string, value: string, maxAgeSeconds: number, httpOnly: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; Secure;${httpOnly ? " HttpOnly;" : ""} SameSite=Strict`;
}

/**
 * The two `Set-Cookie` values of a new session.
 *
 * @example
 * for (const value of sessionCookies(jwt, 8 * 3600)) c.header("Set-Cookie", value, { append: true });
 */
export function sessionCookies(jwt: string, maxAgeSeconds: number): string[] {
  return [cookie(sessionCookieName, jwt, maxAgeSeconds, true), cookie(csrfCookieName, csrfTokenOf(jwt), maxAgeSeconds, false)];
}

/** The `Set-Cookie` values that end the session in the browser. */
export function clearedSessionCookies(): string[] {
  return [cookie(sessionCookieName, "", 0, true), cookie(csrfCookieName, "", 0, false)];
}

/** The session cookie's JWT in a `Cookie` header, or `undefined`. */
export function sessionCookieOf(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined || cookieHeader.length > maxCookieHeaderBytes) return undefined;
  for (const part of cookieHeader.split(";")) {
    const at = part.indexOf("=");
    if (at !== -1 && part.slice(0, at).trim() === sessionCookieName) return part.slice(at + 1).trim() || undefined;
  }
  return undefined;
}

/**
 * The JWT of a request authenticated by its session cookie, once its CSRF token is checked:
 * a request that may change something (any method but GET, HEAD, OPTIONS) must carry
 * `X-CSRF-Token` matching the cookie's session, else `403 forbidden`. `undefined` without a
 * session cookie.
 */
export function cookieSessionJwt(request: { method: string; cookie: string | undefined; csrfToken: string | undefined }): string | undefined {
  const jwt = sessionCookieOf(request.cookie);
  if (jwt === undefined || safeMethods.has(request.method.toUpperCase())) return jwt;
  const expected = Buffer.from(csrfTokenOf(jwt));
  const sent = Buffer.from(request.csrfToken ?? "");
  if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) {
    throw new ServerError("forbidden", `This request changes something but does not carry its session's CSRF token (${csrfHeaderName}).`, {
      fix: `Send the value of the ${csrfCookieName} cookie as the ${csrfHeaderName} header, as the web UI does; API clients use Authorization: Bearer or X-API-Key instead of the cookie.`,
    });
  }
  return jwt;
}
