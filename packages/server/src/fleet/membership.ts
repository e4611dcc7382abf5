import type { EdgeGroupStore } from "../store/edge-groups.ts";

/**
 * Who is in which edge group (docs/fleet.md "Tags and edge groups"), for the parts that deploy to
 * groups (edge stacks, edge jobs, registries): associated environments only, dynamic groups
 * matched at each call. Never their own membership SQL.
 */
export interface Membership {
  /** The associated environments in any of `groupIds` (union, ascending). */
  membersOf(groupIds: readonly number[]): Promise<number[]>;
  /** The groups an environment is in (ascending; none while it waits in the waiting room). */
  groupsOf(environmentId: number): Promise<number[]>;
}

/**
 * `Membership` over the store's edge groups (one query per call).
 *
 * @example
 * const members = await membership(store.edgeGroups).membersOf(stack.groupIds);
 */
export function membership(groups: Pick<EdgeGroupStore, "membersOf" | "groupsOf">): Membership {
  return { membersOf: (groupIds) => groups.membersOf(groupIds), groupsOf: (environmentId) => groups.groupsOf(environmentId) };
}
