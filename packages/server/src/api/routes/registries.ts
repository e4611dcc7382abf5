import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { customRegistryType, registryLimits, type RegistryView } from "../../fleet/registries.ts";
import { clientAddress } from "../../net/client-address.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

/** Portainer's registry object, without the password (which never leaves the server but for devices). */
const registrySchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    Type: z.literal(customRegistryType).openapi({ description: "3: a custom registry (the one type Pier keeps)" }),
    URL: z.string().openapi({ description: "host[:port], as image references name it" }),
    BaseURL: z.string(),
    Authentication: z.boolean(),
    Username: z.string(),
  })
  .openapi("Registry");

const typeField = z.literal(customRegistryType).optional().openapi({ description: "3 (custom registry); other Portainer types are not supported" });

const createBody = z
  .object({
    Name: z.string().min(1).max(registryLimits.name),
    URL: z.string().min(1).max(registryLimits.url),
    Authentication: z.boolean().default(false),
    Username: z.string().max(registryLimits.username).optional(),
    Password: z.string().max(registryLimits.password).optional(),
    Type: typeField,
    BaseURL: z.string().max(registryLimits.url).optional().openapi({ description: "Accepted for Portainer's scripts; unused" }),
  })
  .openapi("RegistryCreate");

const updateBody = z
  .object({
    Name: z.string().min(1).max(registryLimits.name).optional(),
    URL: z.string().min(1).max(registryLimits.url).optional(),
    Authentication: z.boolean().optional(),
    Username: z.string().max(registryLimits.username).optional(),
    Password: z.string().max(registryLimits.password).optional().openapi({ description: "Absent or empty: the stored password stays" }),
    Type: typeField,
    BaseURL: z.string().max(registryLimits.url).optional(),
  })
  .openapi("RegistryUpdate");

const idParams = z.object({ id: idParam("id") });

function registryJson(registry: RegistryView): z.infer<typeof registrySchema> {
  return { Id: registry.id, Name: registry.name, Type: customRegistryType, URL: registry.url, BaseURL: "", Authentication: registry.authentication, Username: registry.username };
}

/**
 * `POST/GET/PUT/DELETE /api/registries[/{id}]` in Portainer's shape (docs/fleet.md
 * "Registries"): the password is taken, sealed, and never answered.
 */
export function registerRegistryRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const audit = (c: { env: ApiEnv["Bindings"]; get: (key: "user") => { username: string } }, kind: string, detail: Record<string, unknown>) =>
    deps.store.audit.append({ kind, sourceAddress: clientAddress(c.env.incoming?.socket) ?? "unknown", detail: { user: c.get("user").username, ...detail } });

  app.openapi(
    createRoute({ method: "get", path: "/api/registries", summary: "Registries (never their passwords)", security: secured, responses: { 200: jsonAnswer(z.array(registrySchema), "Registries by id") } }),
    async (c) => c.json((await deps.fleet.registries.list()).map(registryJson), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/registries/{id}",
      summary: "One registry",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(registrySchema, "The registry"), 404: failure("No such registry") },
    }),
    async (c) => c.json(registryJson(await deps.fleet.registries.get(c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/registries",
      summary: "Create a registry; its password is sealed and sent only to devices running a stack that names it",
      security: secured,
      request: { body: jsonBody(createBody) },
      responses: { 200: jsonAnswer(registrySchema, "The registry"), 400: failure("Invalid body"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const registry = await deps.fleet.registries.create({
        name: body.Name,
        url: body.URL,
        authentication: body.Authentication,
        ...(body.Username === undefined ? {} : { username: body.Username }),
        ...(body.Password === undefined ? {} : { password: body.Password }),
      });
      await audit(c, "registry_created", { registry: registry.id, name: registry.name, url: registry.url });
      return c.json(registryJson(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/registries/{id}",
      summary: "Change a registry (fields left out stay); devices running stacks that name it get the new credentials",
      security: secured,
      request: { params: idParams, body: jsonBody(updateBody) },
      responses: { 200: jsonAnswer(registrySchema, "The registry"), 400: failure("Invalid body"), 404: failure("No such registry"), 409: failure("The name is taken") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const registry = await deps.fleet.registries.update(id, {
        ...(body.Name === undefined ? {} : { name: body.Name }),
        ...(body.URL === undefined ? {} : { url: body.URL }),
        ...(body.Authentication === undefined ? {} : { authentication: body.Authentication }),
        ...(body.Username === undefined ? {} : { username: body.Username }),
        ...(body.Password === undefined ? {} : { password: body.Password }),
      });
      await audit(c, "registry_updated", { registry: id, name: registry.name, url: registry.url, passwordChanged: Boolean(body.Password) });
      return c.json(registryJson(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/registries/{id}",
      summary: "Delete a registry (refused while an edge stack names it)",
      security: secured,
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such registry"), 409: failure("An edge stack names it") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await deps.fleet.registries.delete(id);
      await audit(c, "registry_deleted", { registry: id });
      return c.body(null, 204);
    },
  );
}
