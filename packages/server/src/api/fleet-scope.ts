import type { Context } from "hono";
import { anyGroupInScope, type EnvironmentScope, requireEveryGroupInScope } from "../auth/index.ts";
import { ServerError } from "../errors.ts";
import type { AgentUpdateView } from "../fleet/agent-updates.ts";
import type { EdgeJobDetails } from "../fleet/edge-jobs.ts";
import type { EdgeStackDetails } from "../fleet/edge-stacks/edge-stack-service.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";
import { requestScope } from "./request-scope.ts";

/**
 * Edge stacks, jobs and agent updates in the caller's team scope (docs/security.md "Teams and scope"). Reads:
 * what targets any group of the scope (for a job, also any environment of it); outside, the 404
 * of a stack or job that does not exist. Writes: every target group (and a job's every
 * environment) in the scope, else 403 naming them.
 */

type Deps = Pick<ApiDependencies, "store">;

/** Whether the scope sees the job: any of its groups, or any of its environments, in the scope (at most one query). */
async function jobVisible(deps: Deps, scope: EnvironmentScope, job: EdgeJobDetails["job"], inScope?: ReadonlySet<number>): Promise<boolean> {
  if (anyGroupInScope(scope, job.groupIds) || scope.edgeGroupIds === "all") return true;
  const members = inScope ?? (await deps.store.teams.environmentsInGroups(job.environmentIds, scope.edgeGroupIds));
  return job.environmentIds.some((id) => members.has(id));
}

/** The stacks the caller sees, of `stacks`, each with the status of the caller's environments only (one query). */
export async function visibleStacks(c: Context<ApiEnv>, deps: Deps, stacks: readonly EdgeStackDetails[]): Promise<EdgeStackDetails[]> {
  const scope = await requestScope(c, deps);
  const visible = stacks.filter((details) => anyGroupInScope(scope, details.stack.groupIds));
  const inScope = await environmentsInScope(c, deps, visible.flatMap((details) => details.statuses.map((status) => status.environmentId)));
  return visible.map((details) => ({ ...details, statuses: details.statuses.filter((status) => inScope(status.environmentId)) }));
}

/** The stack (with the status of the caller's environments only), or the 404 of a stack that does not exist when the caller does not see it. */
export async function visibleStack(c: Context<ApiEnv>, deps: Deps, details: EdgeStackDetails): Promise<EdgeStackDetails> {
  if (!anyGroupInScope(await requestScope(c, deps), details.stack.groupIds)) throw new ServerError("not_found", `Edge stack ${details.stack.id} does not exist.`, { fix: "List the stacks with GET /api/edge_stacks." });
  const inScope = await environmentsInScope(c, deps, details.statuses.map((status) => status.environmentId));
  return { ...details, statuses: details.statuses.filter((status) => inScope(status.environmentId)) };
}

/** Refuses (403) unless every group of the stack as it is and as it would be (`groupIds`) is in the scope. */
export async function requireStackWritable(c: Context<ApiEnv>, deps: Deps, details: EdgeStackDetails | undefined, groupIds: readonly number[] = []): Promise<void> {
  const scope = await requestScope(c, deps);
  if (details !== undefined) await visibleStack(c, deps, details);
  requireEveryGroupInScope(scope, [...(details?.stack.groupIds ?? []), ...groupIds], "edgeGroups");
}

/** The jobs the caller sees, of `jobs` (one query for all of them). */
export async function visibleJobs(c: Context<ApiEnv>, deps: Deps, jobs: readonly EdgeJobDetails[]): Promise<EdgeJobDetails[]> {
  const scope = await requestScope(c, deps);
  if (scope.edgeGroupIds === "all") return [...jobs];
  const members = await deps.store.teams.environmentsInGroups(jobs.flatMap((details) => details.job.environmentIds), scope.edgeGroupIds);
  const visible: EdgeJobDetails[] = [];
  for (const details of jobs) if (await jobVisible(deps, scope, details.job, members)) visible.push(details);
  return visible;
}

/** The job, or the 404 of a job that does not exist when the caller does not see it. */
export async function visibleJob(c: Context<ApiEnv>, deps: Deps, details: EdgeJobDetails): Promise<EdgeJobDetails> {
  if (!(await jobVisible(deps, await requestScope(c, deps), details.job))) throw new ServerError("not_found", `Edge job ${details.job.id} does not exist.`);
  return details;
}

/** Refuses (403) unless every group and environment of the job as it is and as it would be is in the scope. */
export async function requireJobWritable(c: Context<ApiEnv>, deps: Deps, details: EdgeJobDetails | undefined, targets: { groupIds?: readonly number[]; environmentIds?: readonly number[] } = {}): Promise<void> {
  const scope = await requestScope(c, deps);
  if (details !== undefined) await visibleJob(c, deps, details);
  if (scope.edgeGroupIds === "all") return;
  requireEveryGroupInScope(scope, [...(details?.job.groupIds ?? []), ...(targets.groupIds ?? [])], "edgeGroups");
  const environments = [...new Set([...(details?.job.environmentIds ?? []), ...(targets.environmentIds ?? [])])];
  const inScope = await deps.store.teams.environmentsInGroups(environments, scope.edgeGroupIds);
  const outside = environments.filter((id) => !inScope.has(id));
  if (outside.length > 0) {
    throw new ServerError("forbidden", `Environments ${outside.join(", ")} are outside your teams' edge groups; you may change only jobs that run on your teams' environments.`, {
      field: "endpoints",
      fix: "Name only environments of your teams' edge groups, or ask an administrator.",
    });
  }
}

/** Of `environmentIds`, those in the caller's scope (no query for administrators, one otherwise). */
export async function environmentsInScope(c: Context<ApiEnv>, deps: Deps, environmentIds: readonly number[]): Promise<(environmentId: number) => boolean> {
  const scope = await requestScope(c, deps);
  if (scope.edgeGroupIds === "all") return () => true;
  const inScope = await deps.store.teams.environmentsInGroups(environmentIds, scope.edgeGroupIds);
  return (environmentId) => inScope.has(environmentId);
}

/** An agent update narrowed to the environments the caller sees (their ids and progress). */
function narrowedUpdate(view: AgentUpdateView, inScope: (environmentId: number) => boolean): AgentUpdateView {
  return { ...view, environmentIds: view.environmentIds.filter(inScope), progress: view.progress.filter((progress) => inScope(progress.environmentId)) };
}

/** The agent updates the caller sees (any target group in the scope), each narrowed to the caller's environments (one query). */
export async function visibleAgentUpdates(c: Context<ApiEnv>, deps: Deps, views: readonly AgentUpdateView[]): Promise<AgentUpdateView[]> {
  const scope = await requestScope(c, deps);
  const visible = views.filter((view) => anyGroupInScope(scope, view.groupIds));
  const inScope = await environmentsInScope(c, deps, visible.flatMap((view) => [...view.environmentIds, ...view.progress.map((progress) => progress.environmentId)]));
  return visible.map((view) => narrowedUpdate(view, inScope));
}

/** The agent update narrowed to the caller's environments, or the 404 of one that does not exist when the caller does not see it. */
export async function visibleAgentUpdate(c: Context<ApiEnv>, deps: Deps, view: AgentUpdateView): Promise<AgentUpdateView> {
  if (!anyGroupInScope(await requestScope(c, deps), view.groupIds)) throw new ServerError("not_found", `Agent update schedule ${view.id} does not exist.`, { fix: "List the schedules with GET /api/edge_update_schedules." });
  const inScope = await environmentsInScope(c, deps, [...view.environmentIds, ...view.progress.map((progress) => progress.environmentId)]);
  return narrowedUpdate(view, inScope);
}

/** Refuses (403) unless every group of the agent update as it is (`view`) or would be (`groupIds`) is in the scope. */
export async function requireAgentUpdateWritable(c: Context<ApiEnv>, deps: Deps, view: AgentUpdateView | undefined, groupIds: readonly number[] = []): Promise<void> {
  const scope = await requestScope(c, deps);
  if (view !== undefined) await visibleAgentUpdate(c, deps, view);
  requireEveryGroupInScope(scope, [...(view?.groupIds ?? []), ...groupIds], "groupIDs");
}
