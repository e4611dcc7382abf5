import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { RolloutOptions } from "../../store/edge-stack-rollouts.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, secured } from "../route-helpers.ts";
import { requireStackWritable } from "../fleet-scope.ts";

/** Bounds of `rollout` (docs/fleet.md "Rollouts"). */
export const rolloutLimits = { batchSize: 10_000, batchPercent: 100, waitSeconds: 86_400, failureThreshold: 10_000 } as const;

/** Pier's `rollout` of `PUT /api/edge_stacks/{id}`: exactly one of batchSize and batchPercent. */
export const rolloutPayload = z
  .object({
    batchSize: z.number().int().min(1).max(rolloutLimits.batchSize).optional().openapi({ description: `Environments per batch, 1–${rolloutLimits.batchSize}` }),
    batchPercent: z.number().int().min(1).max(rolloutLimits.batchPercent).optional().openapi({ description: "Percent of the stack's environments per batch (rounded up), 1–100" }),
    waitSeconds: z.number().int().min(0).max(rolloutLimits.waitSeconds).openapi({ description: "Seconds between a batch settling and the next release, 0–86400" }),
    failureThreshold: z
      .number()
      .int()
      .min(0)
      .max(rolloutLimits.failureThreshold)
      .openapi({ description: "Failed environments tolerated (a count, 0–10000): more pause the rollout" }),
  })
  .strict()
  .superRefine((value, context) => {
    if ((value.batchSize === undefined) === (value.batchPercent === undefined)) {
      context.addIssue({ code: "custom", path: ["batchSize"], message: "give exactly one of batchSize and batchPercent" });
    }
  });

export function rolloutOptions(body: z.infer<typeof rolloutPayload>): RolloutOptions {
  return { batchSize: body.batchSize ?? null, batchPercent: body.batchPercent ?? null, waitSeconds: body.waitSeconds, failureThreshold: body.failureThreshold };
}

/** `POST /api/edge_stacks/{id}/rollout/pause|resume|abort` (Pier; docs/fleet.md "Rollouts"). */
export function registerEdgeStackRolloutRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const params = z.object({ id: idParam("id") });
  const actions = {
    pause: "Stop releasing batches; released environments keep the new version",
    resume: "Release batches again; the failures so far are accepted (the threshold counts from them)",
    abort: "End the rollout: every environment, released or not, runs the previous version again",
  } as const;
  for (const action of ["pause", "resume", "abort"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/edge_stacks/{id}/rollout/${action}`,
        summary: actions[action],
        security: secured,
        request: { params },
        responses: { 204: { description: "Done" }, 409: failure("No rollout of the stack's current version, or not in a state this action applies to") },
      }),
      async (c) => {
        const { id } = c.req.valid("param");
        // 404 for a stack that does not exist (or outside the caller's scope); 403 unless all its groups are in it.
        await requireStackWritable(c, deps, await deps.fleet.edgeStacks.get(id));
        await deps.fleet.rollouts[action](id, c.get("user").username);
        return c.body(null, 204);
      },
    );
  }
}
