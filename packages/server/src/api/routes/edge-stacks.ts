import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { fleetLimits } from "@pier/protocol";
import { type EdgeStackDetails, edgeStackLimits } from "../../fleet/edge-stacks/edge-stack-service.ts";
import { statusMap } from "../../fleet/edge-stacks/stack-status.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import type { RolloutProgress } from "../../fleet/edge-stacks/rollout-engine.ts";
import { rolloutOptions, rolloutPayload } from "./edge-stack-rollouts.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { requireStackWritable, visibleStack, visibleStacks } from "../fleet-scope.ts";

const transitionSchema = z.object({ Type: z.number().int(), Time: z.number().int(), Error: z.string(), RollbackTo: z.number().int().optional() });

/** An edge stack as Portainer's API shows it (`portainer.EdgeStack`), plus `Pier`. */
export const edgeStackSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    Status: z
      .record(
        z.string(),
        z.object({
          EndpointID: z.number().int(),
          Status: z.array(transitionSchema),
          DeploymentInfo: z.object({ Version: z.number().int(), FileVersion: z.number().int(), ConfigHash: z.string() }),
          ReadyRePullImage: z.boolean(),
        }),
      )
      .openapi({ description: 'Per environment id: the status transitions of the version it runs or moves to (Portainer\'s types: 3 Acknowledged, 6 ImagesPulled, 8 Deploying, 7 Running, 2 Error, 9 Removing, 4 Removed, 12 RollingBack, 13 RolledBack)' }),
    CreationDate: z.number().int().openapi({ description: "Unix seconds" }),
    EdgeGroups: z.array(z.number().int()),
    ProjectPath: z.string(),
    EntryPoint: z.string(),
    Version: z.number().int(),
    NumDeployments: z.number().int().openapi({ description: "Environments in its edge groups now" }),
    ManifestPath: z.string(),
    DeploymentType: z.literal(0).openapi({ description: "0: Docker Compose (Swarm services on a swarm)" }),
    EnvVars: z.array(z.object({ name: z.string(), value: z.string() })),
    Registries: z.array(z.number().int()),
    Pier: z.object({
      UpdatedDate: z.number().int().openapi({ description: "Unix seconds of the last change" }),
      Rollout: z
        .object({
          Version: z.number().int(),
          PreviousVersion: z.number().int().openapi({ description: "What environments not yet released keep" }),
          State: z.enum(["running", "paused", "aborted", "completed"]),
          BatchSize: z.number().int().nullable(),
          BatchPercent: z.number().int().nullable(),
          WaitSeconds: z.number().int(),
          FailureThreshold: z.number().int(),
          StartedDate: z.number().int(),
          Released: z.number().int().openapi({ description: "Environments released to Version" }),
          Total: z.number().int().openapi({ description: "Environments in the stack's groups" }),
          Succeeded: z.number().int().optional().openapi({ description: "Released environments running Version (GET /api/edge_stacks/{id})" }),
          Failed: z.number().int().optional().openapi({ description: "Released environments that reported Error, RollingBack or RolledBack" }),
          NextBatchAt: z.number().int().nullable().optional().openapi({ description: "Unix seconds when the next batch goes out; null while a batch is deploying, paused or finished" }),
          Reason: z.string().nullable().optional().openapi({ description: "Why it paused or was aborted" }),
        })
        .optional()
        .openapi({ description: "The staged rollout of the current version, when one was started" }),
    }),
  })
  .openapi("EdgeStack");

/** Maps a stack to Portainer's JSON shape. */
export function edgeStackView({ stack, statuses, targets, rollout }: EdgeStackDetails, progress?: RolloutProgress | null): z.infer<typeof edgeStackSchema> {
  return {
    Id: stack.id,
    Name: stack.name,
    Status: statusMap(statuses),
    CreationDate: Math.floor(stack.createdAt.getTime() / 1000),
    EdgeGroups: stack.groupIds,
    ProjectPath: "",
    EntryPoint: "docker-compose.yml",
    Version: stack.version,
    NumDeployments: targets,
    ManifestPath: "",
    DeploymentType: 0,
    EnvVars: stack.envVars,
    Registries: stack.registryIds,
    Pier: {
      UpdatedDate: Math.floor(stack.updatedAt.getTime() / 1000),
      ...(rollout === null
        ? {}
        : {
            Rollout: {
              Version: rollout.version,
              PreviousVersion: rollout.previousVersion,
              State: rollout.state,
              BatchSize: rollout.batchSize,
              BatchPercent: rollout.batchPercent,
              WaitSeconds: rollout.waitSeconds,
              FailureThreshold: rollout.failureThreshold,
              StartedDate: Math.floor(rollout.startedAt.getTime() / 1000),
              Released: rollout.released,
              Total: targets,
              ...(progress === undefined || progress === null
                ? {}
                : {
                    Released: progress.released,
                    Total: progress.total,
                    Succeeded: progress.succeeded,
                    Failed: progress.failed,
                    NextBatchAt: progress.nextBatchAt === null ? null : Math.floor(progress.nextBatchAt.getTime() / 1000),
                    Reason: progress.reason,
                  }),
            },
          }),
    },
  };
}

const ids = (max: number, what: string) => z.array(z.number().int().positive()).max(max, `at most ${max} ${what}`);
const envVars = z
  .array(
    z.object({
      name: z.string().min(1).max(fleetLimits.envVarName, `at most ${fleetLimits.envVarName} characters`),
      value: z.string().max(fleetLimits.envVarValue, `at most ${fleetLimits.envVarValue} characters`),
    }),
  )
  .max(fleetLimits.envVars, `at most ${fleetLimits.envVars} variables`);
const stackFileContent = z
  .string()
  .min(1)
  .refine((text) => Buffer.byteLength(text, "utf8") <= fleetLimits.composeFileBytes, `at most ${fleetLimits.composeFileBytes} bytes`)
  .openapi({ description: `The compose file (YAML), at most ${fleetLimits.composeFileBytes} bytes; see docs/fleet.md "Supported compose keys"` });
const deploymentType = z.literal(0, "0 (Docker Compose) is the only deployment type Pier has").openapi({ description: "0: Docker Compose" });

/** Portainer's payload of `POST /api/edge_stacks/create/string` (its other fields are accepted and ignored). */
const createPayload = z.object({
  name: z.string().max(64, "at most 63 characters").openapi({ description: "A Compose project name: lowercase letters, digits, '-', '_'" }),
  stackFileContent,
  edgeGroups: ids(edgeStackLimits.edgeGroups, "edge groups").openapi({ description: `At least one, at most ${edgeStackLimits.edgeGroups}` }),
  deploymentType,
  envVars: envVars.optional(),
  registries: ids(fleetLimits.registriesPerStack, "registries").optional(),
});

/** Portainer's payload of `PUT /api/edge_stacks/{id}`. */
const updatePayload = z.object({
  stackFileContent,
  edgeGroups: ids(edgeStackLimits.edgeGroups, "edge groups"),
  updateVersion: z.boolean().optional().openapi({ description: "true: a new version even if the file is unchanged (devices redeploy); a changed file, variables or registries always make one" }),
  deploymentType: deploymentType.optional(),
  envVars: envVars.optional(),
  registries: ids(fleetLimits.registriesPerStack, "registries").optional(),
  rollout: rolloutPayload.optional().openapi({ description: "Pier: stage the new version in batches (docs/fleet.md \"Rollouts\"); ignored when the PUT makes no new version" }),
});

/** `POST /api/edge_stacks/create/string`, `GET/PUT/DELETE /api/edge_stacks[/{id}]`, `GET …/file` — Portainer's routes and shapes (docs/fleet.md "Edge stacks"). */
export function registerEdgeStackRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const stacks = () => deps.fleet.edgeStacks;
  const idParams = z.object({ id: idParam("id") });

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/edge_stacks/create/string",
      summary: "Create an edge stack from a compose file, deployed to the environments of its edge groups",
      security: secured,
      request: { body: jsonBody(createPayload) },
      responses: {
        200: jsonAnswer(edgeStackSchema, "The stack, at version 1"),
        400: failure("Invalid payload: the field is named; an invalid compose file names its path in the message (field stackFileContent)"),
        409: failure("The name is taken"),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      await requireStackWritable(c, deps, undefined, body.edgeGroups);
      const details = await stacks().create({ name: body.name, composeFile: body.stackFileContent, groupIds: body.edgeGroups, envVars: body.envVars ?? [], registryIds: body.registries ?? [] }, c.get("user").username);
      return c.json(edgeStackView(details), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/edge_stacks", summary: "Edge stacks, by id, with each environment's status", security: secured, responses: { 200: jsonAnswer(z.array(edgeStackSchema), "The stacks") } }),
    async (c) => c.json((await visibleStacks(c, deps, await stacks().list())).map((details) => edgeStackView(details)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_stacks/{id}",
      summary: "One edge stack",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(edgeStackSchema, "The stack"), 404: failure("No such stack") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const details = await visibleStack(c, deps, await stacks().get(id));
      return c.json(edgeStackView(details, details.rollout === null ? null : await deps.fleet.rollouts.progress(id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/edge_stacks/{id}",
      summary: "Change an edge stack's file, groups, variables or registries (a new version when what devices run changes)",
      security: secured,
      request: { params: idParams, body: jsonBody(updatePayload) },
      responses: { 200: jsonAnswer(edgeStackSchema, "The stack"), 400: failure("Invalid payload (named)"), 404: failure("No such stack") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const current = await stacks().get(id);
      await requireStackWritable(c, deps, current, body.edgeGroups);
      const details = await stacks().update(
        id,
        {
          composeFile: body.stackFileContent,
          groupIds: body.edgeGroups,
          // Portainer keeps what a PUT leaves out.
          envVars: body.envVars ?? current.stack.envVars,
          registryIds: body.registries ?? current.stack.registryIds,
          updateVersion: body.updateVersion ?? false,
          ...(body.rollout === undefined ? {} : { rollout: rolloutOptions(body.rollout) }),
        },
        c.get("user").username,
      );
      return c.json(edgeStackView(details), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/edge_stacks/{id}",
      summary: "Delete an edge stack; its devices remove it (their status stays listed until they report Removed)",
      security: secured,
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, 404: failure("No such stack") },
    }),
    async (c) => {
      await requireStackWritable(c, deps, await stacks().get(c.req.valid("param").id));
      await stacks().delete(c.req.valid("param").id, c.get("user").username);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/edge_stacks/{id}/file",
      summary: "The compose file of an edge stack's latest version, or of an earlier one (?version=N: every version is kept, to roll back by PUTting it again)",
      security: secured,
      request: { params: idParams, query: z.object({ version: z.coerce.number().int().positive().optional().openapi({ description: "A version of the stack (default: the latest)" }) }) },
      responses: { 200: jsonAnswer(z.object({ StackFileContent: z.string() }), "The file"), 400: failure("Invalid version"), 404: failure("No such stack, or no such version") },
    }),
    async (c) => {
      await visibleStack(c, deps, await stacks().get(c.req.valid("param").id));
      return c.json({ StackFileContent: await stacks().file(c.req.valid("param").id, c.req.valid("query").version) }, 200);
    },
  );
}
