import type { MiddlewareHandler } from "hono";
import { ServerError } from "../errors.ts";
import { verifyApiToken } from "../auth/index.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";

/**
 * Resolves the caller from `Authorization: Bearer <jwt>` or `X-API-Key`, or answers 401.
 * Paths in `open` pass without a user.
 */
export function authenticate(deps: ApiDependencies, open: readonly string[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (open.includes(path)) return next();
    const apiKey = c.req.header("x-api-key");
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    let userId: number | undefined;
    if (apiKey) {
      const token = await verifyApiToken(deps.store.apiTokens, apiKey);
      if (!token) throw new ServerError("unauthorized", "Invalid API key.");
      userId = token.userId;
    } else if (bearer) {
      userId = (await deps.sessions.verify(bearer)).userId;
    } else {
      throw new ServerError("unauthorized", "Authentication required: log in with POST /api/auth and send Authorization: Bearer <jwt>, or send X-API-Key.");
    }
    const user = await deps.store.users.get(userId);
    if (!user) throw new ServerError("unauthorized", "The user of this token no longer exists.");
    c.set("user", user);
    return next();
  };
}
