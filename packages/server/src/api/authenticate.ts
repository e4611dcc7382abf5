import type { MiddlewareHandler } from "hono";
import { lesserRole } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import { verifyApiToken } from "../auth/index.ts";
import type { User } from "../store/store.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";
import { cookieSessionJwt, csrfHeaderName } from "./session-cookie.ts";

/** The credential headers of a request, as sent (`undefined` when absent). */
export interface Credentials {
  /** `X-API-Key`. */
  readonly apiKey: string | undefined;
  /** `Authorization`, expected as `Bearer <jwt>`. */
  readonly authorization: string | undefined;
  /** The web UI's session cookie (api/session-cookie.ts): `Cookie`, the method and `X-CSRF-Token`. */
  readonly cookie?: { readonly header: string | undefined; readonly method: string; readonly csrfToken: string | undefined };
}

/**
 * Resolves the caller from `X-API-Key` (an access token) or `Authorization: Bearer <jwt>` (a
 * session), or throws `unauthorized`. The one implementation behind the API's middleware and the
 * routes that bypass Hono (the Docker proxy). The user is read from the store on every request,
 * so a role change, a deletion or ended sessions count at once on every replica. The answer's
 * `role` is what the caller may do: the user's current role, lowered to an access token's scope.
 *
 * @example
 * const user = await authenticateRequest(deps, { apiKey: req.headers["x-api-key"], authorization: req.headers.authorization });
 */
export async function authenticateRequest(deps: Pick<ApiDependencies, "store" | "sessions">, credentials: Credentials): Promise<User> {
  const bearer = /^Bearer\s+(.+)$/i.exec(credentials.authorization ?? "")?.[1] ?? (credentials.apiKey || !credentials.cookie ? undefined : cookieSessionJwt({ method: credentials.cookie.method, cookie: credentials.cookie.header, csrfToken: credentials.cookie.csrfToken }));
  let userId: number;
  let scope: User["role"] = "admin";
  let issuedAt: Date | undefined;
  if (credentials.apiKey) {
    const token = await verifyApiToken(deps.store.apiTokens, credentials.apiKey);
    if (!token) throw new ServerError("unauthorized", "Invalid API key.", { fix: "Send an access token the server made (POST /api/users/{id}/tokens) and that was not revoked." });
    userId = token.userId;
    scope = token.scope;
  } else if (bearer) {
    ({ userId, issuedAt } = await deps.sessions.verify(bearer));
  } else {
    throw new ServerError("unauthorized", "Authentication required.", { fix: "Log in with POST /api/auth and send Authorization: Bearer <jwt> (or the session cookie it sets), or send X-API-Key." });
  }
  const user = await deps.store.users.get(userId);
  if (!user) throw new ServerError("unauthorized", "The user of this token no longer exists.", { fix: "Log in again as an existing user." });
  if (issuedAt !== undefined && user.sessionsValidAfter !== null && issuedAt < user.sessionsValidAfter) {
    throw new ServerError("unauthorized", "This session was ended (all sessions ended, or the password changed). Log in again.", { details: { reason: "ended" } });
  }
  const role = lesserRole(user.role, scope);
  // The account's role decides which environments it sees (auth/environment-scope.ts); the token's scope, what it may do there.
  return role === user.role ? { ...user, role } : { ...user, role, accountRole: user.role };
}

/**
 * A request's credentials from its headers: `X-API-Key`, `Authorization`, and the session cookie
 * with the method and `X-CSRF-Token` it is checked with.
 *
 * @example
 * const user = await authenticateRequest(deps, credentialsOf(req.method ?? "GET", (name) => header(req, name)));
 */
export function credentialsOf(method: string, header: (name: string) => string | undefined): Credentials {
  return { apiKey: header("x-api-key"), authorization: header("authorization"), cookie: { header: header("cookie"), method, csrfToken: header(csrfHeaderName) } };
}

/**
 * Resolves the caller with `authenticateRequest`, or answers 401. Paths in `open` pass without a
 * user.
 */
export function authenticate(deps: ApiDependencies, open: readonly string[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (open.includes(path)) return next();
    c.set("user", await authenticateRequest(deps, credentialsOf(c.req.method, (name) => c.req.header(name))));
    return next();
  };
}
