import type { ApiDependencies } from "./context.ts";

/**
 * Which of `environmentIds` have an open edge session, as `Pier.Connected` shows it: the cluster's
 * session directory on replicas (one answer on every replica), this server's sessions otherwise.
 *
 * @example
 * const online = await connectedEnvironments(deps, page.items.map((item) => item.id));
 * online.has(7); // true while environment 7's device holds a session on a live replica
 */
export async function connectedEnvironments(deps: Pick<ApiDependencies, "edge" | "connected">, environmentIds: readonly number[]): Promise<ReadonlySet<number>> {
  if (deps.connected) return deps.connected(environmentIds);
  return new Set(environmentIds.filter((environmentId) => deps.edge.isConnected(environmentId)));
}
