import type { Context } from "hono";
import { type EnvironmentScope, environmentScope, requireEnvironmentInScope } from "../auth/index.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";

/**
 * The caller's environment scope (auth/environment-scope.ts), computed once per request and kept
 * on the context: at most one query, whatever the number of routes and checks that ask.
 *
 * @example
 * const scope = await requestScope(c, deps);
 */
export async function requestScope(c: Context<ApiEnv>, deps: Pick<ApiDependencies, "store">): Promise<EnvironmentScope> {
  const known = c.get("scope");
  if (known !== undefined) return known;
  const scope = await environmentScope(deps.store, c.get("user"));
  c.set("scope", scope);
  return scope;
}

/**
 * Throws 404 `not_found` (as for an environment that does not exist) unless the caller's scope
 * holds the environment.
 *
 * @example
 * await requireInScope(c, deps, id);
 */
export async function requireInScope(c: Context<ApiEnv>, deps: Pick<ApiDependencies, "store">, environmentId: number): Promise<void> {
  await requireEnvironmentInScope(deps.store, await requestScope(c, deps), environmentId);
}
