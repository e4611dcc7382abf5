import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { ServerError } from "../../errors.ts";
import type { Team } from "../../store/teams.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

/** What one team request may carry (docs/security.md "Teams and scope"). */
export const teamLimits = {
  /** Characters of a name. */
  name: 64,
  /** Members named in one request. */
  members: 1000,
  /** Edge groups named in one request. */
  edgeGroups: 200,
} as const;

/** A team as the API shows it. */
export const teamSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    UserIds: z.array(z.number().int()).openapi({ description: "The members (ascending)" }),
    EdgeGroupIds: z.array(z.number().int()).openapi({ description: "The edge groups whose environments the members see (ascending)" }),
    CreatedAt: z.number().int().openapi({ description: "Seconds since the epoch" }),
  })
  .openapi("Team");

/** Maps a team to its JSON shape. */
export function teamView(team: Team): z.infer<typeof teamSchema> {
  return { Id: team.id, Name: team.name, UserIds: team.userIds, EdgeGroupIds: team.edgeGroupIds, CreatedAt: Math.floor(team.createdAt.getTime() / 1000) };
}

const ids = (max: number, what: string) => z.array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).max(max, `at most ${max} ${what}`);

const payload = z.object({
  Name: z
    .string()
    .trim()
    .min(1, "must not be empty")
    .max(teamLimits.name, `at most ${teamLimits.name} characters`)
    .openapi({ description: `1 to ${teamLimits.name} characters, unique case-insensitively`, example: "Berlin shops" }),
  UserIds: ids(teamLimits.members, "members").openapi({ description: `The members (at most ${teamLimits.members}); replaces them` }),
  EdgeGroupIds: ids(teamLimits.edgeGroups, "edge groups").openapi({ description: `The edge groups the members see (at most ${teamLimits.edgeGroups}); replaces them` }),
});
// Creation: lists left out are empty. (A PUT's are kept: `payload.partial()` has no defaults.)
const createPayload = payload.extend({ UserIds: payload.shape.UserIds.default([]), EdgeGroupIds: payload.shape.EdgeGroupIds.default([]) });

const teamNotFound = (id: number) => new ServerError("not_found", `Team ${id} does not exist.`, { fix: "List the teams with GET /api/teams." });

/**
 * `GET/POST /api/teams`, `GET/PUT/DELETE /api/teams/{id}` (administrators, route-permissions.ts):
 * teams name their members and the edge groups those members see (auth/environment-scope.ts).
 * Every change is audited (`team_created`, `team_changed`, `team_deleted`).
 */
export function registerTeamRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;
  const idParams = z.object({ id: idParam("id") });
  const invalid = `Invalid body: the field is named (a name of 1 to ${teamLimits.name} characters, at most ${teamLimits.members} members and ${teamLimits.edgeGroups} edge groups, each existing)`;

  app.openapi(
    createRoute({ method: "get", path: "/api/teams", summary: "List teams with their members and edge groups (administrators)", security: secured, responses: { 200: jsonAnswer(z.array(teamSchema), "Every team, by id") } }),
    async (c) => c.json((await store.teams.list()).map(teamView), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/teams",
      summary: "Create a team: its members see the environments of its edge groups (administrators)",
      security: secured,
      request: { body: jsonBody(createPayload) },
      responses: { 200: jsonAnswer(teamSchema, "The team"), 400: failure(invalid), 409: failure("The name is taken") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const team = await store.teams.create({ name: body.Name, userIds: body.UserIds, edgeGroupIds: body.EdgeGroupIds });
      await store.audit.append({ kind: "team_created", detail: { by: c.get("user").username, team: team.name, userIds: team.userIds, edgeGroupIds: team.edgeGroupIds } });
      return c.json(teamView(team), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/teams/{id}", summary: "One team (administrators)", security: secured, request: { params: idParams }, responses: { 200: jsonAnswer(teamSchema, "The team"), 404: failure("No such team") } }),
    async (c) => {
      const { id } = c.req.valid("param");
      const team = await store.teams.get(id);
      if (team === null) throw teamNotFound(id);
      return c.json(teamView(team), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/teams/{id}",
      summary: "Change a team's name, members or edge groups (fields left out keep their value; lists replace) (administrators)",
      security: secured,
      request: { params: idParams, body: jsonBody(payload.partial()) },
      responses: { 200: jsonAnswer(teamSchema, "The team"), 400: failure(invalid), 404: failure("No such team"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const before = await store.teams.get(id);
      if (before === null) throw teamNotFound(id);
      const team = await store.teams.update(id, { name: body.Name ?? before.name, userIds: body.UserIds ?? before.userIds, edgeGroupIds: body.EdgeGroupIds ?? before.edgeGroupIds });
      await store.audit.append({
        kind: "team_changed",
        detail: { by: c.get("user").username, team: team.name, ...(team.name === before.name ? {} : { renamedFrom: before.name }), userIds: team.userIds, edgeGroupIds: team.edgeGroupIds },
      });
      return c.json(teamView(team), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/teams/{id}",
      summary: "Delete a team: its members no longer see its edge groups' environments (administrators)",
      security: secured,
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such team") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const team = await store.teams.get(id);
      if (team === null || !(await store.teams.delete(id))) throw teamNotFound(id);
      await store.audit.append({ kind: "team_deleted", detail: { by: c.get("user").username, team: team.name } });
      return c.body(null, 204);
    },
  );
}
