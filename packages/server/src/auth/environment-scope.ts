import type { Role } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { Store, User } from "../store/store.ts";

/**
 * Which environments a caller may see (docs/security.md "Teams and scope"): `"all"` for
 * administrators, else the edge groups of the teams they belong to — exactly the environments
 * those groups hold (static members and dynamic tag matches, as the group's own membership
 * resolves them; a waiting device counts as if associated). A non-administrator in no team has
 * an empty list and sees nothing (default deny). The account's role decides, not an access
 * token's scope: an administrator's helpdesk-scoped token still sees every environment, read-only.
 */
export interface EnvironmentScope {
  readonly edgeGroupIds: "all" | readonly number[];
}

/** The scope of administrators (and of server-internal work). */
export const everyEnvironment: EnvironmentScope = { edgeGroupIds: "all" };

/**
 * The caller's scope: no query for administrators, one (`teams.edgeGroupsOfUser`) for anyone else.
 *
 * @example
 * const scope = await environmentScope(store, c.get("user"));
 */
export async function environmentScope(store: Pick<Store, "teams">, user: Pick<User, "id" | "role" | "accountRole">): Promise<EnvironmentScope> {
  const role: Role = user.accountRole ?? user.role;
  if (role === "admin") return everyEnvironment;
  return { edgeGroupIds: await store.teams.edgeGroupsOfUser(user.id) };
}

/**
 * The scope as `EnvironmentPageQuery.scopeEdgeGroupIds`: `{}` when unlimited.
 *
 * @example
 * await store.environments.page({ ...query, ...scopeFilter(scope) });
 */
export function scopeFilter(scope: EnvironmentScope): { scopeEdgeGroupIds?: readonly number[] } {
  return scope.edgeGroupIds === "all" ? {} : { scopeEdgeGroupIds: scope.edgeGroupIds };
}

/** Whether an edge group is one of the scope's (every group for administrators). */
export function edgeGroupInScope(scope: EnvironmentScope, groupId: number): boolean {
  return scope.edgeGroupIds === "all" || scope.edgeGroupIds.includes(groupId);
}

/**
 * Reads of what targets edge groups (edge stacks, edge jobs): visible when any target group is in
 * the scope, so a team sees what runs on its devices even when it runs elsewhere too.
 */
export function anyGroupInScope(scope: EnvironmentScope, groupIds: readonly number[]): boolean {
  return scope.edgeGroupIds === "all" || groupIds.some((id) => edgeGroupInScope(scope, id));
}

/**
 * Writes of what targets edge groups: every target group must be in the scope (a team changes
 * only what runs on its own devices), else 403 `forbidden` naming the groups outside it.
 *
 * @example
 * requireEveryGroupInScope(scope, body.edgeGroups, "edgeGroups");
 */
export function requireEveryGroupInScope(scope: EnvironmentScope, groupIds: readonly number[], field: string): void {
  const outside = groupIds.filter((id) => !edgeGroupInScope(scope, id));
  if (outside.length === 0) return;
  throw new ServerError("forbidden", `Edge group${outside.length === 1 ? "" : "s"} ${outside.join(", ")} ${outside.length === 1 ? "is" : "are"} outside your teams' edge groups; you may change only what targets your teams' groups.`, {
    field,
    details: { outside },
    fix: "Target only your teams' edge groups (GET /api/edge_groups lists them), or ask an administrator.",
  });
}

/** Whether an environment is in the scope: no query for administrators, one otherwise. */
export async function environmentInScope(store: Pick<Store, "teams">, scope: EnvironmentScope, environmentId: number): Promise<boolean> {
  return scope.edgeGroupIds === "all" || store.teams.environmentInGroups(environmentId, scope.edgeGroupIds);
}

/**
 * The answer for an environment outside the scope: the same 404 as for one that does not exist,
 * so a caller learns nothing of environments they may not see.
 */
export function environmentNotFound(environmentId: number): ServerError {
  return new ServerError("not_found", `Environment ${environmentId} does not exist.`);
}

/**
 * Throws `environmentNotFound` unless the environment is in the scope.
 *
 * @example
 * await requireEnvironmentInScope(store, scope, id);
 */
export async function requireEnvironmentInScope(store: Pick<Store, "teams">, scope: EnvironmentScope, environmentId: number): Promise<void> {
  if (!(await environmentInScope(store, scope, environmentId))) throw environmentNotFound(environmentId);
}
