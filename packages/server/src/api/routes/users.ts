import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { clearedSessionCookies, sessionCookieOf, sessionCookies } from "../session-cookie.ts";
import { roleWithin, roles } from "@pier/protocol";
import {
  defaultApiTokenLifetimeDays,
  defaultSessionLifetimeSeconds,
  generateApiToken,
  hashPassword,
  maximumApiTokenLifetimeDays,
  passwordHashNeedsUpgrade,
  verifyPassword,
} from "../../auth/index.ts";
import { maximumSetupTokenLength, setupTokenHeader } from "../../bootstrap/first-admin.ts";
import { ServerError } from "../../errors.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { clientAddress } from "../../net/client-address.ts";
import type { ApiToken } from "../../store/store.ts";
import { registerUserAccountRoutes, selfOrAdministrator, userSchema, userView } from "./user-accounts.ts";

const credentials = z.object({
  Username: z.string().min(1).max(128).openapi({ example: "admin" }),
  Password: z.string().min(1).max(1024),
});
const firstAdminBody = credentials.extend({
  SetupToken: z.string().max(maximumSetupTokenLength).optional().openapi({ description: `The one-time token in DATA/admin-setup-token (or the ${setupTokenHeader} header)` }),
});
const secondsOf = (date: Date | null) => (date ? Math.floor(date.getTime() / 1000) : 0);
const dayMs = 86_400_000;

/** An access token as lists show it (never its hash). */
function apiKeyView(token: ApiToken) {
  return {
    id: token.id,
    userId: token.userId,
    description: token.description,
    prefix: token.prefix,
    dateCreated: secondsOf(token.createdAt),
    lastUsed: secondsOf(token.lastUsedAt),
    scope: token.scope,
    expiresAt: secondsOf(token.expiresAt),
  };
}

/** First admin, login, users and access tokens — Portainer's routes and shapes. */
export function registerUserRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/users/admin/init",
      summary: `Create the first administrator (only while no user exists), with the one-time setup token from DATA/admin-setup-token in ${setupTokenHeader} or SetupToken`,
      request: { body: jsonBody(firstAdminBody) },
      responses: {
        200: jsonAnswer(userSchema, "The administrator"),
        400: failure("Invalid body or weak password"),
        403: failure("No setup token, or not the one in DATA/admin-setup-token"),
        409: failure("An administrator already exists"),
      },
    }),
    async (c) => {
      const { Username, Password, SetupToken } = c.req.valid("json");
      const presentedToken = c.req.header(setupTokenHeader) ?? SetupToken;
      const user = await deps.firstAdmin.createAdministrator({ username: Username, password: Password, presentedToken });
      deps.log("info", `first administrator "${user.username}" created; the setup token is deleted`);
      return c.json(userView(user), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/users/admin/check",
      summary: "Whether an administrator exists (204) or not (404)",
      responses: { 204: { description: "An administrator exists" }, 404: failure("No administrator yet") },
    }),
    async (c) => {
      if ((await store.users.count()) > 0) return c.body(null, 204);
      throw new ServerError("not_found", `No administrator account exists yet.${deps.firstAdmin.setupTokenRequired ? " Creating it needs the one-time setup token in the server's data directory (DATA/admin-setup-token)." : ""}`);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/auth",
      summary: "Log in; answers a JWT for Authorization: Bearer, and sets it as the web UI's HttpOnly session cookie with its CSRF token (docs/security.md \"Browser sessions\")",
      request: { body: jsonBody(credentials) },
      responses: { 200: jsonAnswer(z.object({ jwt: z.string() }), "Session token (8 h)"), 422: failure("Invalid credentials"), 429: failure("Too many attempts") },
    }),
    async (c) => {
      const { Username, Password } = c.req.valid("json");
      const source = clientAddress(c.env.incoming?.socket) ?? "unknown";
      const decision = deps.loginThrottle.admit(source, Username);
      if (!decision.allowed) {
        c.header("Retry-After", String(decision.retryAfterSeconds));
        const whose = decision.limitedBy === "user" ? "for this user name from addresses it has not logged in from" : "from your address";
        throw new ServerError("too_many_requests", `Too many login attempts ${whose}; try again in ${decision.retryAfterSeconds} s.`);
      }
      const user = await store.users.getByUsername(Username);
      if (!(await verifyPassword(Password, user?.passwordHash ?? null)) || !user) {
        await store.audit.append({ kind: "login_failed", sourceAddress: source, detail: deps.failedLoginNames.describe(Username, user !== null) });
        // 422, as Portainer answers a failed login.
        throw new ServerError("invalid_credentials", "Invalid credentials");
      }
      deps.loginThrottle.succeeded(source, Username);
      // Hashes made with older (cheaper) parameters are replaced while the password is at hand.
      if (passwordHashNeedsUpgrade(user.passwordHash)) await store.users.setPasswordHash(user.id, await hashPassword(Password));
      const jwt = await deps.sessions.issue(user);
      // The web UI's session: the same JWT in an HttpOnly cookie, and its CSRF token (api/session-cookie.ts).
      for (const value of sessionCookies(jwt, defaultSessionLifetimeSeconds)) c.header("Set-Cookie", value, { append: true });
      return c.json({ jwt }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/auth/logout",
      summary: "Log out: the presented session token is refused from now on (access tokens are not affected)",
      security: secured,
      responses: { 204: { description: "Logged out" }, 401: failure("No valid credentials") },
    }),
    async (c) => {
      const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? sessionCookieOf(c.req.header("cookie"));
      // A caller authenticated by X-API-Key has no session to end; its token stays valid.
      if (bearer && !c.req.header("x-api-key")) await deps.sessions.revoke(bearer);
      for (const value of clearedSessionCookies()) c.header("Set-Cookie", value, { append: true });
      return c.body(null, 204);
    },
  );

  registerUserAccountRoutes(app, deps);

  const tokenParams = z.object({ id: idParam("id") });
  const apiKeySchema = z
    .object({
      id: z.number().int(),
      userId: z.number().int(),
      description: z.string(),
      prefix: z.string(),
      dateCreated: z.number().int(),
      lastUsed: z.number().int().openapi({ description: "Seconds since the epoch; 0: never used" }),
      scope: z.enum(roles),
      expiresAt: z.number().int().openapi({ description: "Seconds since the epoch; refused from then on" }),
    })
    .openapi("APIKey");
  const newToken = z.object({
    description: z.string().min(1).max(128),
    scope: z.enum(roles).optional().openapi({ description: "The most the token may do (a role, at most yours); default: your role" }),
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(maximumApiTokenLifetimeDays)
      .optional()
      .openapi({ description: `Days until the token is refused; default ${defaultApiTokenLifetimeDays}, at most ${maximumApiTokenLifetimeDays}` }),
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/users/{id}/tokens",
      summary: "Create an access token (X-API-Key) with a scope and an expiry; the raw value is shown once",
      security: secured,
      request: { params: tokenParams, body: jsonBody(newToken) },
      responses: { 200: jsonAnswer(z.object({ rawAPIKey: z.string(), apiKey: apiKeySchema }), "The new token"), 400: failure("A scope above your role"), 403: failure("Not your user") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const caller = c.get("user");
      if (id !== caller.id) throw new ServerError("forbidden", "You can only create access tokens for yourself.", { fix: `Use your own user id (${caller.id}).` });
      const body = c.req.valid("json");
      // The caller's role is already the lesser of theirs and their token's scope: a token cannot mint a stronger one.
      const scope = body.scope ?? caller.role;
      if (!roleWithin(scope, caller.role)) throw new ServerError("bad_request", `A token's scope can be at most your role (${caller.role}).`, { field: "scope", fix: `Choose ${caller.role} or a lesser role.` });
      const generated = generateApiToken();
      const expiresAt = new Date(Date.now() + (body.expiresInDays ?? defaultApiTokenLifetimeDays) * dayMs);
      const token = await store.apiTokens.create({ userId: id, description: body.description, tokenHash: generated.tokenHash, prefix: generated.prefix, scope, expiresAt });
      await store.audit.append({ kind: "api_token_created", detail: { by: caller.username, prefix: token.prefix, scope, expiresAt: expiresAt.toISOString() } });
      return c.json({ rawAPIKey: generated.token, apiKey: apiKeyView(token) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/users/{id}/tokens",
      summary: "List a user's access tokens with their scope, expiry and last use (yours, or anyone's for administrators)",
      security: secured,
      request: { params: tokenParams },
      responses: { 200: jsonAnswer(z.array(apiKeySchema), "Tokens") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      selfOrAdministrator(c.get("user"), id, "list the access tokens");
      return c.json((await store.apiTokens.list({ userId: id })).map(apiKeyView), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/users/{id}/tokens/{keyId}",
      summary: "Revoke an access token (yours, or anyone's for administrators)",
      security: secured,
      request: { params: tokenParams.extend({ keyId: idParam("keyId") }) },
      responses: { 204: { description: "Revoked" }, 404: failure("No such token") },
    }),
    async (c) => {
      const { id, keyId } = c.req.valid("param");
      selfOrAdministrator(c.get("user"), id, "revoke the access tokens");
      const owned = (await store.apiTokens.list({ userId: id })).find((t) => t.id === keyId);
      if (!owned || !(await store.apiTokens.delete(keyId))) throw new ServerError("not_found", `Access token ${keyId} does not exist.`);
      await store.audit.append({ kind: "api_token_revoked", detail: { by: c.get("user").username, prefix: owned.prefix } });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/system/status",
      summary: "Server version, and whether the first administrator exists (no authentication: health checks, and the UI's first-run screen)",
      responses: {
        200: jsonAnswer(z.object({ Version: z.string(), AdminExists: z.boolean(), SetupTokenRequired: z.boolean().openapi({ description: "Creating the administrator needs the token in DATA/admin-setup-token" }) }), "Status"),
      },
    }),
    // The UI asks here rather than /api/users/admin/check, whose 404 a browser logs as an error.
    // From memory once an administrator is known to exist: it answers while the database cannot be reached.
    async (c) => {
      const adminExists = await deps.firstAdmin.administratorExists();
      return c.json({ Version: "0.1.0", AdminExists: adminExists, SetupTokenRequired: !adminExists && deps.firstAdmin.setupTokenRequired }, 200);
    },
  );
}
