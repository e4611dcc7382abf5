import type { EdgeGroupStore } from "../store/edge-groups.ts";
import type { AuditLog, Environment } from "../store/store.ts";
import type { FleetChanges } from "./fleet-contracts.ts";

/** Why a requested group name was not applied at association. */
export type NotAppliedReason = "unknown" | "dynamic";

/** What an association did with the groups the device asked for (`EDGE_GROUPS`). */
export interface AppliedRequest {
  /** Static groups the device was added to, by id. */
  applied: number[];
  /** Names that are no group (nothing is created) or a dynamic group (joined only through tags). */
  notApplied: { name: string; reason: NotAppliedReason }[];
}

/** What the request handling acts on. */
export interface EdgeGroupRequestsOptions {
  readonly store: { readonly edgeGroups: EdgeGroupStore; readonly audit: AuditLog };
  readonly changes: FleetChanges;
}

/**
 * The edge groups a device asks for with `EDGE_GROUPS` (docs/fleet.md "Tags and edge groups"):
 * kept while it waits (shown in the Waiting Room), applied on association — added to each static
 * group of that name; unknown and dynamic names are reported and audited, never created.
 *
 * @example
 * const requests = new EdgeGroupRequests({ store, changes });
 * edge.onHello((environment, hello, enrolled) => requests.heard(environment, hello.edgeGroups ?? [], enrolled));
 * const { notApplied } = await requests.associated(environment.id, "admin");
 */
export class EdgeGroupRequests {
  readonly #store: EdgeGroupRequestsOptions["store"];
  readonly #changes: FleetChanges;

  constructor(options: EdgeGroupRequestsOptions) {
    this.#store = options.store;
    this.#changes = options.changes;
  }

  /**
   * A hello's request: a waiting device's is kept (replaced when it changes, forgotten when it
   * is gone); a device that enrolled associated at once (trust on first connect, or an
   * environment created associated) has it applied now.
   */
  async heard(environment: Environment, names: readonly string[], enrolled: boolean): Promise<void> {
    if (environment.userTrusted) {
      if (!enrolled) return;
      if (names.length > 0) await this.#store.edgeGroups.setRequest(environment.id, names);
      await this.associated(environment.id, "enrollment", environment.edgeId);
      return;
    }
    const stored = (await this.#store.edgeGroups.requestsOf([environment.id])).get(environment.id) ?? [];
    if (stored.join("\n") !== names.join("\n")) await this.#store.edgeGroups.setRequest(environment.id, names);
  }

  /**
   * The environment was just associated: adds it to each static group it asked for, audits the
   * names not applied, forgets the request, and recomputes its desired state (it now belongs to
   * its dynamic groups too).
   */
  async associated(environmentId: number, by: string, edgeId: string | null = null): Promise<AppliedRequest> {
    const names = (await this.#store.edgeGroups.requestsOf([environmentId])).get(environmentId) ?? [];
    const outcome: AppliedRequest = { applied: [], notApplied: [] };
    if (names.length > 0) {
      const groups = await this.#store.edgeGroups.getByNames(names);
      const byName = new Map(groups.map((group) => [group.name.toLowerCase(), group]));
      for (const name of names) {
        const group = byName.get(name.toLowerCase());
        if (group === undefined) outcome.notApplied.push({ name, reason: "unknown" });
        else if (group.dynamic) outcome.notApplied.push({ name, reason: "dynamic" });
        else if (!outcome.applied.includes(group.id)) outcome.applied.push(group.id);
      }
      for (const groupId of outcome.applied) await this.#store.edgeGroups.addStaticMembers(groupId, [environmentId]);
      if (outcome.applied.length > 0) await this.#store.audit.append({ kind: "edge_groups_applied", environmentId, edgeId, detail: { groups: outcome.applied, by } });
      if (outcome.notApplied.length > 0) await this.#store.audit.append({ kind: "edge_groups_not_applied", environmentId, edgeId, detail: { names: outcome.notApplied, by } });
      await this.#store.edgeGroups.setRequest(environmentId, []);
    }
    await this.#changes.changed([environmentId]);
    return outcome;
  }
}
