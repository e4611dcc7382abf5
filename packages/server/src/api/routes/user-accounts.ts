import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { type Role, can, roles } from "@pier/protocol";
import { checkPasswordPolicy, hashPassword, maximumPasswordLength, verifyPassword } from "../../auth/index.ts";
import { ServerError } from "../../errors.ts";
import type { User } from "../../store/store.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

/** Portainer's role numbers (1 administrator, 2 standard user), and Pier's third. */
const roleNumbers: Readonly<Record<Role, number>> = { admin: 1, operator: 2, helpdesk: 3 };

/** The user's role as the API shows it: Portainer's number and Pier's name. */
export const userSchema = z
  .object({
    Id: z.number().int(),
    Username: z.string(),
    Role: z.number().int().openapi({ description: "1 = administrator, 2 = operator, 3 = helpdesk" }),
    RoleName: z.enum(roles),
    CreatedAt: z.number().int().openapi({ description: "Seconds since the epoch" }),
  })
  .openapi("User");

/** `GET /api/users/me`: the user, their teams, and whether they see every environment. */
const meSchema = userSchema
  .extend({
    Teams: z.array(z.object({ Id: z.number().int(), Name: z.string(), EdgeGroupIds: z.array(z.number().int()) })).openapi({ description: "The teams you belong to" }),
    AllEnvironments: z.boolean().openapi({ description: "true for administrators; otherwise you see the environments of your teams' edge groups only" }),
  })
  .openapi("Me");

/** A user as the API answers it (never the password hash). */
export function userView(user: User): z.infer<typeof userSchema> {
  return { Id: user.id, Username: user.username, Role: roleNumbers[user.role], RoleName: user.role, CreatedAt: Math.floor(user.createdAt.getTime() / 1000) };
}

/** The next whole second: session tokens carry whole seconds, so every token issued until now is before it. */
function endOfThisSecond(now = Date.now()): Date {
  return new Date(Math.floor(now / 1000) * 1000 + 1000);
}

const username = z.string().trim().min(1).max(128).openapi({ example: "helpdesk-anna" });
const password = z.string().min(1).max(maximumPasswordLength);
const role = z.enum(roles).openapi({ description: "admin, operator or helpdesk (docs/security.md)" });
const userParams = z.object({ id: idParam("id") });

function strongPassword(value: string, field: string): void {
  const weak = checkPasswordPolicy(value);
  if (weak) throw new ServerError("bad_request", weak, { field });
}

async function existing(deps: ApiDependencies, id: number): Promise<User> {
  const user = await deps.store.users.get(id);
  if (!user) throw new ServerError("not_found", `User ${id} does not exist.`, { fix: "List the users with GET /api/users." });
  return user;
}

/** Refuses another user's account unless the caller administers (the table lets any user in: route-permissions.ts). */
export function selfOrAdministrator(caller: Pick<User, "id" | "role">, id: number, what: string): void {
  if (caller.id !== id && !can(caller.role, "administer")) {
    throw new ServerError("forbidden", `Only an administrator can ${what} of another user.`, { details: { role: caller.role, required: "admin" }, fix: `Use your own user id (${caller.id}).` });
  }
}

/**
 * Users (Portainer's `/api/users` routes): who is calling (`/me`), the list, creation with a
 * role, role changes and password resets, deletion, changing one's own password, and ending a
 * user's sessions. The last administrator can be neither demoted nor deleted (409).
 */
export function registerUserAccountRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/users/me",
      summary: "The calling user, with the role they act with now (an access token's scope lowers it) and their teams (which decide the environments a non-administrator sees)",
      security: secured,
      responses: { 200: jsonAnswer(meSchema, "You") },
    }),
    async (c) => {
      const user = c.get("user");
      const teams = await store.teams.ofUser(user.id);
      return c.json({ ...userView(user), Teams: teams.map((team) => ({ Id: team.id, Name: team.name, EdgeGroupIds: team.edgeGroupIds })), AllEnvironments: (user.accountRole ?? user.role) === "admin" }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/users", summary: "List users (administrators)", security: secured, responses: { 200: jsonAnswer(z.array(userSchema), "Users") } }),
    async (c) => c.json((await store.users.list()).map(userView), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/users",
      summary: "Create a user with a role (administrators)",
      security: secured,
      request: { body: jsonBody(z.object({ Username: username, Password: password, Role: role })) },
      responses: { 200: jsonAnswer(userSchema, "The user"), 400: failure("Invalid body or weak password"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      strongPassword(body.Password, "Password");
      const user = await store.users.create({ username: body.Username, passwordHash: await hashPassword(body.Password), role: body.Role });
      await store.audit.append({ kind: "user_created", detail: { by: c.get("user").username, user: user.username, role: user.role } });
      return c.json(userView(user), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/users/{id}", summary: "One user (yourself, or anyone for administrators)", security: secured, request: { params: userParams }, responses: { 200: jsonAnswer(userSchema, "The user"), 404: failure("No such user") } }),
    async (c) => {
      const { id } = c.req.valid("param");
      selfOrAdministrator(c.get("user"), id, "see the account");
      return c.json(userView(await existing(deps, id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/users/{id}",
      summary: "Change a user's role or reset their password (administrators); a reset ends the user's sessions",
      security: secured,
      request: { params: userParams, body: jsonBody(z.object({ Role: role.optional(), Password: password.optional() })) },
      responses: { 200: jsonAnswer(userSchema, "The user"), 404: failure("No such user"), 409: failure("The last administrator cannot be demoted") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      let user = await existing(deps, id);
      if (body.Password !== undefined) strongPassword(body.Password, "Password");
      if (body.Role !== undefined && body.Role !== user.role) {
        user = (await store.users.setRole(id, body.Role)) ?? user;
        await store.audit.append({ kind: "user_role_changed", detail: { by: c.get("user").username, user: user.username, role: body.Role } });
      }
      if (body.Password !== undefined) {
        await store.users.setPasswordHash(id, await hashPassword(body.Password));
        await store.users.endSessions(id, endOfThisSecond());
        await store.audit.append({ kind: "user_password_reset", detail: { by: c.get("user").username, user: user.username } });
      }
      return c.json(userView(user), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/users/{id}",
      summary: "Delete a user and their access tokens (administrators)",
      security: secured,
      request: { params: userParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such user"), 409: failure("The last administrator cannot be deleted") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const user = await existing(deps, id);
      if (!(await store.users.delete(id))) throw new ServerError("not_found", `User ${id} does not exist.`);
      await store.audit.append({ kind: "user_deleted", detail: { by: c.get("user").username, user: user.username } });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/users/{id}/passwd",
      summary: "Change your own password (the current one is required); your other sessions end, so log in again with the new one",
      security: secured,
      request: { params: userParams, body: jsonBody(z.object({ Password: password.openapi({ description: "The current password" }), NewPassword: password })) },
      responses: { 204: { description: "Changed" }, 400: failure("Weak new password"), 403: failure("Not your user, or the current password is wrong") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const caller = c.get("user");
      if (caller.id !== id) throw new ServerError("forbidden", "You can only change your own password.", { fix: "Administrators reset another user's password with PUT /api/users/{id}." });
      const body = c.req.valid("json");
      const user = await existing(deps, id);
      if (!(await verifyPassword(body.Password, user.passwordHash))) throw new ServerError("forbidden", "The current password is wrong.", { field: "Password", fix: "Type your current password." });
      strongPassword(body.NewPassword, "NewPassword");
      await store.users.setPasswordHash(id, await hashPassword(body.NewPassword));
      await store.users.endSessions(id, endOfThisSecond());
      await store.audit.append({ kind: "user_password_changed", detail: { user: user.username } });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/users/{id}/sessions/end",
      summary: "End every session of a user (yourself, or anyone for administrators), on every replica; access tokens are not affected",
      security: secured,
      request: { params: userParams },
      responses: { 204: { description: "Every session token issued until now is refused" }, 404: failure("No such user") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      selfOrAdministrator(c.get("user"), id, "end the sessions");
      const user = await existing(deps, id);
      await store.users.endSessions(id, endOfThisSecond());
      await store.audit.append({ kind: "sessions_ended", detail: { by: c.get("user").username, user: user.username } });
      return c.body(null, 204);
    },
  );
}
