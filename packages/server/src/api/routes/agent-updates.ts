import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { agentUpdateLimits, type AgentUpdateView } from "../../fleet/agent-updates.ts";
import { clientAddress } from "../../net/client-address.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { requireAgentUpdateWritable, visibleAgentUpdate, visibleAgentUpdates } from "../fleet-scope.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

const statusSchema = z.object({
  status: z.enum(["pending", "updated", "rolled_back", "failed"]).openapi({ description: "pending until the device reports" }),
  agentVersion: z.string().optional(),
  error: z.string().optional(),
  time: z.number().int().optional().openapi({ description: "Unix seconds of the report" }),
});

/** Portainer BE's `EdgeUpdateResponse` fields, with the image and each device's progress. */
const scheduleSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    type: z.literal(1).openapi({ description: "1: update (Portainer's ScheduleType; rollback schedules are not kept: the device rolls back itself)" }),
    version: z.string().openapi({ description: "The image's tag" }),
    agentImage: z.string(),
    edgeGroupIds: z.array(z.number().int()),
    environmentIds: z.array(z.number().int()).openapi({ description: "The associated environments of its groups now" }),
    created: z.number().int().openapi({ description: "Unix seconds" }),
    scheduledTime: z.string().openapi({ description: "Always empty: the update is offered at once" }),
    deadlineSeconds: z.number().int(),
    status: z.record(z.string(), statusSchema).openapi({ description: "Per environment id" }),
  })
  .openapi("EdgeUpdateSchedule");

const createBody = z
  .object({
    name: z.string().trim().min(1).max(agentUpdateLimits.name),
    groupIDs: z.array(z.number().int().positive()).min(1).max(agentUpdateLimits.groups),
    agentImage: z.string().min(1).max(agentUpdateLimits.image).regex(/^[^\s]+$/, "an image reference has no spaces"),
    deadlineSeconds: z.number().int().min(agentUpdateLimits.minDeadlineSeconds).max(agentUpdateLimits.maxDeadlineSeconds).default(300),
    type: z.union([z.literal(0), z.literal(1)]).optional().openapi({ description: "0 or 1: update (Portainer's scripts send one of them)" }),
  })
  .openapi("EdgeUpdateScheduleCreate");

const idParams = z.object({ id: idParam("id") });

function tagOf(image: string): string {
  const at = image.indexOf("@");
  if (at >= 0) return image.slice(at + 1);
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? image.slice(colon + 1) : "latest";
}

function scheduleJson(view: AgentUpdateView): z.infer<typeof scheduleSchema> {
  const status: Record<string, z.infer<typeof statusSchema>> = {};
  for (const id of view.environmentIds) status[String(id)] = { status: "pending" };
  for (const progress of view.progress) {
    status[String(progress.environmentId)] = { status: progress.status, agentVersion: progress.agentVersion, ...(progress.error ? { error: progress.error } : {}), time: Math.floor(progress.updatedAt.getTime() / 1000) };
  }
  return {
    id: view.id,
    name: view.name,
    type: 1,
    version: tagOf(view.image),
    agentImage: view.image,
    edgeGroupIds: view.groupIds,
    environmentIds: view.environmentIds,
    created: Math.floor(view.createdAt.getTime() / 1000),
    scheduledTime: "",
    deadlineSeconds: view.deadlineSeconds,
    status,
  };
}

/**
 * `/api/edge_update_schedules` (Portainer BE's "remote update"; docs/fleet.md "Agent updates"):
 * an agent image for the devices of some edge groups, and what each device reported.
 */
export function registerAgentUpdateRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const audit = (c: { env: ApiEnv["Bindings"]; get: (key: "user") => { username: string } }, kind: string, detail: Record<string, unknown>) =>
    deps.store.audit.append({ kind, sourceAddress: clientAddress(c.env.incoming?.socket) ?? "unknown", detail: { user: c.get("user").username, ...detail } });

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_update_schedules", summary: "Agent update schedules, newest first, with each device's progress", security: secured, responses: { 200: jsonAnswer(z.array(scheduleSchema), "Schedules") } }),
    async (c) => c.json((await visibleAgentUpdates(c, deps, await deps.fleet.agentUpdates.list())).map(scheduleJson), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_update_schedules/{id}",
      summary: "One agent update schedule",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(scheduleSchema, "The schedule"), 404: failure("No such schedule") },
    }),
    async (c) => c.json(scheduleJson(await visibleAgentUpdate(c, deps, await deps.fleet.agentUpdates.get(c.req.valid("param").id))), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/edge_update_schedules",
      summary: "Update the agents of some edge groups to an image (each device swaps its container and rolls back if the new agent does not check in)",
      security: secured,
      request: { body: jsonBody(createBody) },
      responses: { 200: jsonAnswer(scheduleSchema, "The schedule"), 400: failure("Invalid body"), 409: failure("The name is taken, or 50 schedules exist") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      await requireAgentUpdateWritable(c, deps, undefined, body.groupIDs);
      const view = await deps.fleet.agentUpdates.create({ name: body.name, image: body.agentImage, groupIds: [...new Set(body.groupIDs)], deadlineSeconds: body.deadlineSeconds });
      await audit(c, "agent_update_created", { schedule: view.id, name: view.name, image: view.image, groups: view.groupIds });
      return c.json(scheduleJson(view), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/edge_update_schedules/{id}",
      summary: "Delete a schedule (devices not yet updated are no longer asked)",
      security: secured,
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such schedule") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await requireAgentUpdateWritable(c, deps, await deps.fleet.agentUpdates.get(id));
      await deps.fleet.agentUpdates.delete(id);
      await audit(c, "agent_update_deleted", { schedule: id });
      return c.body(null, 204);
    },
  );
}
