import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { type EdgeGroupDetails, type EdgeGroupRequest, edgeGroupLimits } from "../../fleet/edge-groups.ts";
import { tagLimits } from "../../fleet/tags.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { requestScope } from "../request-scope.ts";
import { edgeGroupInScope } from "../../auth/index.ts";
import { ServerError } from "../../errors.ts";

/** An edge group as Portainer's API shows it. */
export const edgeGroupSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    Dynamic: z.boolean(),
    TagIds: z.array(z.number().int()).openapi({ description: "A dynamic group's tags; empty for a static group" }),
    Endpoints: z.array(z.number().int()).openapi({ description: "The member environments (associated only), computed for dynamic groups" }),
    PartialMatch: z.boolean().openapi({ description: "Dynamic: environments carrying any of the tags (true) or all of them (false)" }),
    HasEdgeStack: z.boolean(),
    HasEdgeJob: z.boolean(),
    EndpointTypes: z.array(z.number().int()).openapi({ description: "Always empty (Portainer's field; every Pier environment is an edge agent on Docker)" }),
  })
  .openapi("EdgeGroup");

/** Maps a group to Portainer's JSON shape. */
export function edgeGroupView({ group, members, stacks, jobs }: EdgeGroupDetails): z.infer<typeof edgeGroupSchema> {
  return {
    Id: group.id,
    Name: group.name,
    Dynamic: group.dynamic,
    TagIds: group.tagIds,
    Endpoints: members,
    PartialMatch: group.partialMatch,
    HasEdgeStack: stacks.length > 0,
    HasEdgeJob: jobs.length > 0,
    EndpointTypes: [],
  };
}

const ids = (max: number, what: string) => z.array(z.number().int().positive()).max(max, `at most ${max} ${what}`);

/** Portainer's payload of `POST /api/edge_groups` (and of `PUT`, where every field may be left out to keep its value). */
const payload = z.object({
  Name: z.string().max(tagLimits.name, `at most ${tagLimits.name} characters`).openapi({ description: `1 to ${tagLimits.name} characters, unique case-insensitively` }),
  Dynamic: z.boolean().openapi({ description: "true: members are the environments matching TagIDs; false: the environments in Endpoints" }),
  TagIDs: ids(edgeGroupLimits.tags, "tags").optional().openapi({ description: "Dynamic: the tags to match (at least one)" }),
  Endpoints: ids(edgeGroupLimits.staticMembers, "environments in a static group").optional().openapi({ description: `Static: the member environments (associated ones; at most ${edgeGroupLimits.staticMembers})` }),
  PartialMatch: z.boolean().optional().openapi({ description: "Dynamic: match any of the tags rather than all (default false)" }),
});

/** `POST/GET/PUT/DELETE /api/edge_groups[/{id}]` — Portainer's routes and shapes (docs/fleet.md "Tags and edge groups"). */
export function registerEdgeGroupRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const groups = deps.fleet.edgeGroups;
  const idParams = z.object({ id: idParam("id") });

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/edge_groups",
      summary: "Create an edge group: static (Endpoints) or dynamic (TagIDs, all or any with PartialMatch)",
      security: secured,
      request: { body: jsonBody(payload) },
      responses: { 200: jsonAnswer(edgeGroupSchema, "The group"), 400: failure("Invalid payload: the field is named (a tag or environment that does not exist, a waiting device, a dynamic group without tags)"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const request: EdgeGroupRequest = { name: body.Name, dynamic: body.Dynamic, partialMatch: body.PartialMatch ?? false, tagIds: body.TagIDs ?? [], environmentIds: body.Endpoints ?? [] };
      return c.json(edgeGroupView(await groups.create(request, c.get("user").username)), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_groups", summary: "List edge groups with their members", security: secured, responses: { 200: jsonAnswer(z.array(edgeGroupSchema), "Every group, by id") } }),
    async (c) => {
      // Non-administrators: their teams' groups only (auth/environment-scope.ts).
      const scope = await requestScope(c, deps);
      return c.json((await groups.list()).filter((details) => edgeGroupInScope(scope, details.group.id)).map(edgeGroupView), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_groups/{id}", summary: "One edge group", security: secured, request: { params: idParams }, responses: { 200: jsonAnswer(edgeGroupSchema, "The group"), 404: failure("No such group") } }),
    async (c) => {
      const { id } = c.req.valid("param");
      // Outside the scope: the answer for a group that does not exist.
      if (!edgeGroupInScope(await requestScope(c, deps), id)) throw new ServerError("not_found", `Edge group ${id} does not exist.`);
      return c.json(edgeGroupView(await groups.get(id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/edge_groups/{id}",
      summary: "Replace an edge group's name, kind, tags or members (fields left out keep their value); the environments that join or leave get a new desired state",
      security: secured,
      request: { params: idParams, body: jsonBody(payload.partial()) },
      responses: { 200: jsonAnswer(edgeGroupSchema, "The group"), 400: failure("Invalid payload (the field is named)"), 404: failure("No such group"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const { group } = await groups.get(id);
      const request: EdgeGroupRequest = {
        name: body.Name ?? group.name,
        dynamic: body.Dynamic ?? group.dynamic,
        partialMatch: body.PartialMatch ?? group.partialMatch,
        tagIds: body.TagIDs ?? group.tagIds,
        environmentIds: body.Endpoints ?? group.environmentIds,
      };
      return c.json(edgeGroupView(await groups.update(id, request, c.get("user").username)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/edge_groups/{id}",
      summary: "Delete an edge group (refused while an edge stack or job uses it)",
      security: secured,
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such group"), 409: failure("An edge stack or edge job uses it (named)") },
    }),
    async (c) => {
      await groups.delete(c.req.valid("param").id, c.get("user").username);
      return c.body(null, 204);
    },
  );
}
