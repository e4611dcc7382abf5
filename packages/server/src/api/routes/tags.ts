import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { tagLimits } from "../../fleet/tags.ts";
import type { Tag } from "../../store/tags.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

/** A tag as Portainer's API shows it. */
export const tagSchema = z.object({ ID: z.number().int(), Name: z.string() }).openapi("Tag");

/** Maps a stored tag to Portainer's `{ID, Name}`. */
export function tagView(tag: Tag): z.infer<typeof tagSchema> {
  return { ID: tag.id, Name: tag.name };
}

/** `POST/GET/DELETE /api/tags` — Portainer's routes and shapes (docs/fleet.md "Tags and edge groups"). */
export function registerTagRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/tags",
      summary: "Create a tag",
      security: secured,
      request: { body: jsonBody(z.object({ Name: z.string().max(tagLimits.name, `at most ${tagLimits.name} characters`).openapi({ description: `1 to ${tagLimits.name} characters, unique case-insensitively` }) })) },
      responses: { 200: jsonAnswer(tagSchema, "The tag"), 400: failure("Invalid name"), 409: failure(`A tag of that name exists, or ${tagLimits.tags} tags exist`) },
    }),
    async (c) => c.json(tagView(await deps.fleet.tags.create(c.req.valid("json").Name, c.get("user").username)), 200),
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/tags", summary: "List tags", security: secured, responses: { 200: jsonAnswer(z.array(tagSchema), "Every tag, by id") } }),
    async (c) => c.json((await deps.fleet.tags.list()).map(tagView), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/tags/{id}",
      summary: "Delete a tag: it leaves every environment and every dynamic edge group's rule",
      security: secured,
      request: { params: z.object({ id: idParam("id") }) },
      responses: { 204: { description: "Deleted" }, 404: failure("No such tag") },
    }),
    async (c) => {
      await deps.fleet.tags.delete(c.req.valid("param").id, c.get("user").username);
      return c.body(null, 204);
    },
  );
}
