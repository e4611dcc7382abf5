import type { MiddlewareHandler } from "hono";
import { ServerError } from "../errors.ts";
import { verifyApiToken } from "../auth/index.ts";
import type { User } from "../store/store.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";

/** The credential headers of a request, as sent (`undefined` when absent). */
export interface Credentials {
  /** `X-API-Key`. */
  readonly apiKey: string | undefined;
  /** `Authorization`, expected as `Bearer <jwt>`. */
  readonly authorization: string | undefined;
}

/**
 * Resolves the caller from `X-API-Key` (an access token) or `Authorization: Bearer <jwt>` (a
 * session), or throws `unauthorized`. The one implementation behind the API's middleware and the
 * routes that bypass Hono (the Docker proxy).
 *
 * @example
 * const user = await authenticateRequest(deps, { apiKey: req.headers["x-api-key"], authorization: req.headers.authorization });
 */
export async function authenticateRequest(deps: Pick<ApiDependencies, "store" | "sessions">, credentials: Credentials): Promise<User> {
  const bearer = /^Bearer\s+(.+)$/i.exec(credentials.authorization ?? "")?.[1];
  let userId: number;
  if (credentials.apiKey) {
    const token = await verifyApiToken(deps.store.apiTokens, credentials.apiKey);
    if (!token) throw new ServerError("unauthorized", "Invalid API key.", { fix: "Send an access token the server made (POST /api/users/{id}/tokens) and that was not revoked." });
    userId = token.userId;
  } else if (bearer) {
    userId = (await deps.sessions.verify(bearer)).userId;
  } else {
    throw new ServerError("unauthorized", "Authentication required.", { fix: "Log in with POST /api/auth and send Authorization: Bearer <jwt>, or send X-API-Key." });
  }
  const user = await deps.store.users.get(userId);
  if (!user) throw new ServerError("unauthorized", "The user of this token no longer exists.", { fix: "Log in again as an existing user." });
  return user;
}

/**
 * Resolves the caller with `authenticateRequest`, or answers 401. Paths in `open` pass without a
 * user.
 */
export function authenticate(deps: ApiDependencies, open: readonly string[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (open.includes(path)) return next();
    c.set("user", await authenticateRequest(deps, { apiKey: c.req.header("x-api-key"), authorization: c.req.header("authorization") }));
    return next();
  };
}
