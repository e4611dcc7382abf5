import { fleetLimits } from "@pier/protocol";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { type EdgeJobDetails, type EdgeJobTaskView, edgeJobLimits } from "../../fleet/edge-jobs.ts";
import { tagLimits } from "../../fleet/tags.ts";
import { logsStatuses } from "../../store/edge-jobs.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { environmentsInScope, requireJobWritable, visibleJob, visibleJobs } from "../fleet-scope.ts";
import { requireInScope } from "../request-scope.ts";

const logsStatus = z.number().int().openapi({ description: "1 idle, 2 pending (asked of the device), 3 collected" });
const endpointMeta = z.object({ LogsStatus: logsStatus, CollectLogs: z.boolean() });

/** An edge job as Portainer's API shows it. */
const edgeJobSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    CronExpression: z.string().openapi({ description: "Five fields, in UTC on the device" }),
    Recurring: z.boolean().openapi({ description: "false: runs once, at the next time the expression matches" }),
    EdgeGroups: z.array(z.number().int()),
    Endpoints: z.record(z.string(), endpointMeta).openapi({ description: "The environments targeted explicitly, by id, with their logs status" }),
    GroupLogsCollection: z.record(z.string(), endpointMeta).openapi({ description: "Members of the groups (not targeted explicitly) whose logs were asked for or collected" }),
    Created: z.number().int().openapi({ description: "Unix seconds" }),
    Version: z.number().int().openapi({ description: "Grows when the script, schedule or recurrence changes" }),
  })
  .openapi("EdgeJob");

const taskSchema = z
  .object({
    Id: z.string().openapi({ description: "The environment's id, as text (the taskId of the logs routes)" }),
    EndpointId: z.number().int(),
    LogsStatus: logsStatus,
    Pier: z.object({
      LastRun: z
        .object({ StartedAt: z.string(), FinishedAt: z.string(), ExitCode: z.number().int().optional(), Error: z.string().optional(), Version: z.number().int() })
        .optional()
        .openapi({ description: "The last run the device reported (times ISO 8601); absent until one is" }),
    }),
  })
  .openapi("EdgeJobTask");

const ids = (max: number, what: string) => z.array(z.number().int().positive()).max(max, `at most ${max} ${what}`);

/** Portainer's Go handlers decode field names case-insensitively: `Name` and `name` are the same field. */
const fieldNames = ["name", "cronExpression", "recurring", "edgeGroups", "endpoints", "fileContent"] as const;
function camelCaseFields(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const byLower = new Map(fieldNames.map((name) => [name.toLowerCase(), name]));
  return Object.fromEntries(Object.entries(body).map(([key, value]) => [byLower.get(key.toLowerCase()) ?? key, value]));
}

const fields = {
  name: z.string().max(tagLimits.name, `at most ${tagLimits.name} characters`).openapi({ description: `1 to ${tagLimits.name} characters` }),
  cronExpression: z.string().max(edgeJobLimits.cronExpression, `at most ${edgeJobLimits.cronExpression} characters`).openapi({ description: 'Five fields in UTC, e.g. "0 3 * * *"' }),
  recurring: z.boolean(),
  edgeGroups: ids(edgeJobLimits.edgeGroups, "edge groups").openapi({ description: `Edge groups whose members run the job (at most ${edgeJobLimits.edgeGroups})` }),
  endpoints: ids(edgeJobLimits.endpoints, "environments").openapi({ description: `Environments that run the job (at most ${edgeJobLimits.endpoints})` }),
  fileContent: z.string().max(fleetLimits.jobScriptBytes, `at most ${fleetLimits.jobScriptBytes} bytes`).openapi({ description: `The shell script (at most ${fleetLimits.jobScriptBytes} bytes), run as root on the device's host` }),
};

const createPayload = z.preprocess(
  camelCaseFields,
  z.object({ ...fields, recurring: fields.recurring.default(false), edgeGroups: fields.edgeGroups.default([]), endpoints: fields.endpoints.default([]) }),
);
const updatePayload = z.preprocess(
  camelCaseFields,
  z.object({
    name: fields.name.optional(),
    cronExpression: fields.cronExpression.optional(),
    recurring: fields.recurring.optional(),
    edgeGroups: fields.edgeGroups.optional(),
    endpoints: fields.endpoints.optional(),
    fileContent: fields.fileContent.optional(),
  }),
);

/** Maps a job to Portainer's JSON shape. */
function edgeJobView({ job, logsStatus }: EdgeJobDetails): z.infer<typeof edgeJobSchema> {
  const meta = (status: number) => ({ LogsStatus: status, CollectLogs: status === logsStatuses.pending });
  const explicit = new Set(job.environmentIds);
  const groupLogs = [...logsStatus].filter(([environmentId, status]) => !explicit.has(environmentId) && status !== logsStatuses.idle);
  return {
    Id: job.id,
    Name: job.name,
    CronExpression: job.cronExpression,
    Recurring: job.recurring,
    EdgeGroups: job.groupIds,
    Endpoints: Object.fromEntries(job.environmentIds.map((id) => [String(id), meta(logsStatus.get(id) ?? logsStatuses.idle)])),
    GroupLogsCollection: Object.fromEntries(groupLogs.map(([id, status]) => [String(id), meta(status)])),
    Created: Math.floor(job.createdAt.getTime() / 1000),
    Version: job.version,
  };
}

function taskView(task: EdgeJobTaskView): z.infer<typeof taskSchema> {
  const run = task.lastRun;
  return {
    Id: String(task.environmentId),
    EndpointId: task.environmentId,
    LogsStatus: task.logsStatus,
    Pier: run
      ? {
          LastRun: {
            StartedAt: run.startedAt.toISOString(),
            FinishedAt: run.finishedAt.toISOString(),
            ...(run.exitCode === undefined ? {} : { ExitCode: run.exitCode }),
            ...(run.error === undefined ? {} : { Error: run.error }),
            Version: run.version,
          },
        }
      : {},
  };
}

/**
 * `/api/edge_jobs…` — Portainer's routes and shapes (docs/fleet.md "Edge jobs"): create from a
 * string, list, inspect, update, delete, the script, the tasks (one per target environment) and
 * log collection.
 */
export function registerEdgeJobRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const jobs = deps.fleet.edgeJobs;
  const idParams = z.object({ id: idParam("id") });
  const taskParams = z.object({ id: idParam("id"), taskId: idParam("taskId").openapi({ description: "The environment's id (a task's Id)" }) });
  const by = (c: { get: (key: "user") => { username: string } }) => c.get("user").username;

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/edge_jobs/create/string",
      summary: "Create an edge job from a script: run on schedule (cron, UTC) on the environments and edge group members it names",
      security: secured,
      request: { body: jsonBody(createPayload) },
      responses: { 200: jsonAnswer(edgeJobSchema, "The job, at version 1"), 400: failure("Invalid payload: the field is named (a cron expression croner refuses, a script too large, a group or environment that does not exist)") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      await requireJobWritable(c, deps, undefined, { groupIds: body.edgeGroups, environmentIds: body.endpoints });
      const created = await jobs.create({ name: body.name, cronExpression: body.cronExpression, recurring: body.recurring, script: body.fileContent, groupIds: body.edgeGroups, environmentIds: body.endpoints }, by(c));
      return c.json(edgeJobView(created), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_jobs", summary: "Edge jobs, by id", security: secured, responses: { 200: jsonAnswer(z.array(edgeJobSchema), "The jobs") } }),
    async (c) => c.json((await visibleJobs(c, deps, await jobs.list())).map(edgeJobView), 200),
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_jobs/{id}", summary: "One edge job", security: secured, request: { params: idParams }, responses: { 200: jsonAnswer(edgeJobSchema, "The job"), 404: failure("No such job") } }),
    async (c) => c.json(edgeJobView(await visibleJob(c, deps, await jobs.get(c.req.valid("param").id))), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/edge_jobs/{id}",
      summary: "Change an edge job (fields left out keep their value); a new script, schedule or recurrence makes a new version",
      security: secured,
      request: { params: idParams, body: jsonBody(updatePayload) },
      responses: { 200: jsonAnswer(edgeJobSchema, "The job"), 400: failure("Invalid payload"), 404: failure("No such job") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      await requireJobWritable(c, deps, await jobs.get(c.req.valid("param").id), { ...(body.edgeGroups === undefined ? {} : { groupIds: body.edgeGroups }), ...(body.endpoints === undefined ? {} : { environmentIds: body.endpoints }) });
      const updated = await jobs.update(
        c.req.valid("param").id,
        {
          ...(body.name === undefined ? {} : { name: body.name }),
          ...(body.cronExpression === undefined ? {} : { cronExpression: body.cronExpression }),
          ...(body.recurring === undefined ? {} : { recurring: body.recurring }),
          ...(body.fileContent === undefined ? {} : { script: body.fileContent }),
          ...(body.edgeGroups === undefined ? {} : { groupIds: body.edgeGroups }),
          ...(body.endpoints === undefined ? {} : { environmentIds: body.endpoints }),
        },
        by(c),
      );
      return c.json(edgeJobView(updated), 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: "/api/edge_jobs/{id}", summary: "Delete an edge job: devices stop scheduling it", security: secured, request: { params: idParams }, responses: { 204: { description: "Deleted" }, 404: failure("No such job") } }),
    async (c) => {
      await requireJobWritable(c, deps, await jobs.get(c.req.valid("param").id));
      await jobs.delete(c.req.valid("param").id, by(c));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_jobs/{id}/file",
      summary: "The job's script",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(z.object({ FileContent: z.string() }), "The script"), 404: failure("No such job") },
    }),
    async (c) => c.json({ FileContent: (await visibleJob(c, deps, await jobs.get(c.req.valid("param").id))).job.script }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_jobs/{id}/tasks",
      summary: "One task per environment the job runs on (explicit and group members), with its logs status and last run",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(z.array(taskSchema), "The tasks, by environment"), 404: failure("No such job") },
    }),
    async (c) => {
      await visibleJob(c, deps, await jobs.get(c.req.valid("param").id));
      const tasks = await jobs.tasks(c.req.valid("param").id);
      // A team sees the tasks of its own environments only.
      const inScope = await environmentsInScope(c, deps, tasks.map((task) => task.environmentId));
      return c.json(tasks.filter((task) => inScope(task.environmentId)).map(taskView), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/edge_jobs/{id}/tasks/{taskId}/logs",
      summary: "Ask the device for its last output of the job (LogsStatus 2 until it arrives, then 3)",
      security: secured,
      request: { params: taskParams },
      responses: { 204: { description: "Asked" }, 404: failure("No such job, or the environment is not one it runs on") },
    }),
    async (c) => {
      const { id, taskId } = c.req.valid("param");
      await visibleJob(c, deps, await jobs.get(id));
      await requireInScope(c, deps, taskId);
      await jobs.requestLogs(id, taskId, by(c));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_jobs/{id}/tasks/{taskId}/logs",
      summary: "The output collected from the device (empty until collected)",
      security: secured,
      request: { params: taskParams },
      responses: { 200: jsonAnswer(z.object({ FileContent: z.string() }), "The output (the last 1 MiB)"), 404: failure("No such job") },
    }),
    async (c) => {
      const { id, taskId } = c.req.valid("param");
      await visibleJob(c, deps, await jobs.get(id));
      await requireInScope(c, deps, taskId);
      return c.json({ FileContent: await jobs.logs(id, taskId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/edge_jobs/{id}/tasks/{taskId}/logs",
      summary: "Forget the collected output (LogsStatus back to 1)",
      security: secured,
      request: { params: taskParams },
      responses: { 204: { description: "Cleared" }, 404: failure("No such job") },
    }),
    async (c) => {
      const { id, taskId } = c.req.valid("param");
      await visibleJob(c, deps, await jobs.get(id));
      await requireInScope(c, deps, taskId);
      await jobs.clearLogs(id, taskId);
      return c.body(null, 204);
    },
  );
}
