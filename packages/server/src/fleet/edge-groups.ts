import { ServerError } from "../errors.ts";
import type { EdgeGroup, EdgeGroupStore } from "../store/edge-groups.ts";
import type { AuditLog, EnvironmentStore } from "../store/store.ts";
import type { FleetChanges } from "./fleet-contracts.ts";
import { type TagService, checkFleetName, union } from "./tags.ts";

/** The bounds of edge groups (docs/fleet.md "Limits"). */
export const edgeGroupLimits = {
  /** Environments listed in one static group. */
  staticMembers: 10_000,
  /** Tags in one dynamic group's rule (every tag there may be). */
  tags: 1_000,
} as const;

/** What `create` and `update` take, as Portainer's payload says it. */
export interface EdgeGroupRequest {
  name: string;
  dynamic: boolean;
  partialMatch: boolean;
  tagIds: readonly number[];
  environmentIds: readonly number[];
}

/** A group with what the API shows of it: its members (computed for dynamic groups) and what uses it. */
export interface EdgeGroupDetails {
  group: EdgeGroup;
  /** The associated environments in it, ascending. */
  members: number[];
  /** Names of the edge stacks that deploy to it. */
  stacks: string[];
  /** Names of the edge jobs that run on it. */
  jobs: string[];
}

/** Names of what uses each of `groupIds` (edge stacks, edge jobs), by group id; groups unused may be absent. */
export type EdgeGroupUsers = (groupIds: readonly number[]) => Promise<ReadonlyMap<number, readonly string[]>>;

/** What the edge group service acts on. */
export interface EdgeGroupServiceOptions {
  readonly store: { readonly edgeGroups: EdgeGroupStore; readonly environments: Pick<EnvironmentStore, "getMany">; readonly audit: AuditLog };
  readonly tags: Pick<TagService, "checkTagsExist">;
  readonly changes: FleetChanges;
}

/**
 * Edge groups (docs/fleet.md "Tags and edge groups"): Portainer's rules (a dynamic group needs
 * tags), Pier's limits, existence checks naming what is missing, audit, the refusal to delete a
 * group a stack or job uses, and the membership changes each write makes.
 *
 * @example
 * const groups = new EdgeGroupService({ store, tags, changes });
 * groups.registerUsers("stack", (ids) => stacks.namesByGroup(ids));
 * const { group } = await groups.create({ name: "sites", dynamic: true, partialMatch: false, tagIds: [1], environmentIds: [] }, "admin");
 */
export class EdgeGroupService {
  readonly #store: EdgeGroupServiceOptions["store"];
  readonly #tags: EdgeGroupServiceOptions["tags"];
  readonly #changes: FleetChanges;
  readonly #users = new Map<"stack" | "job", EdgeGroupUsers>();

  constructor(options: EdgeGroupServiceOptions) {
    this.#store = options.store;
    this.#tags = options.tags;
    this.#changes = options.changes;
  }

  /** Edge stacks (H2) and edge jobs (H6) say which groups they use: shown as HasEdgeStack/HasEdgeJob, and a used group cannot be deleted. */
  registerUsers(kind: "stack" | "job", users: EdgeGroupUsers): void {
    this.#users.set(kind, users);
  }

  async list(): Promise<EdgeGroupDetails[]> {
    return this.#details(await this.#store.edgeGroups.list());
  }

  async get(id: number): Promise<EdgeGroupDetails> {
    const [details] = await this.#details([await this.#find(id)]);
    if (details === undefined) throw new ServerError("not_found", `Edge group ${id} does not exist.`);
    return details;
  }

  /** `bad_request` for an invalid payload (naming the field), `conflict` for a taken name. */
  async create(request: EdgeGroupRequest, by: string): Promise<EdgeGroupDetails> {
    await this.#check(request);
    const group = await this.#store.edgeGroups.create(request);
    await this.#store.audit.append({ kind: "edge_group_created", detail: { groupId: group.id, name: group.name, dynamic: group.dynamic, by } });
    const [details] = await this.#details([group]);
    if (details === undefined) throw new ServerError("internal", `Edge group ${group.id} vanished while it was created.`);
    if (details.members.length > 0) await this.#changes.changed(details.members);
    return details;
  }

  /** Replaces the whole group (Portainer's PUT); the members before and after get a new desired state. */
  async update(id: number, request: EdgeGroupRequest, by: string): Promise<EdgeGroupDetails> {
    await this.#find(id);
    await this.#check(request);
    const before = await this.#store.edgeGroups.membersOf([id]);
    const group = await this.#store.edgeGroups.update(id, request);
    await this.#store.audit.append({ kind: "edge_group_updated", detail: { groupId: id, name: group.name, dynamic: group.dynamic, by } });
    const [details] = await this.#details([group]);
    if (details === undefined) throw new ServerError("not_found", `Edge group ${id} was removed meanwhile.`);
    const affected = union(before, details.members);
    if (affected.length > 0) await this.#changes.changed(affected);
    return details;
  }

  /** `conflict` (naming them) while an edge stack or job uses the group; `not_found` when there is none. */
  async delete(id: number, by: string): Promise<void> {
    const details = await this.get(id);
    if (details.stacks.length > 0 || details.jobs.length > 0) {
      const users = [...details.stacks.map((name) => `edge stack "${name}"`), ...details.jobs.map((name) => `edge job "${name}"`)];
      throw new ServerError("conflict", `Edge group "${details.group.name}" is used by ${users.join(", ")}; it cannot be deleted.`, {
        details: { stacks: details.stacks, jobs: details.jobs },
        fix: "Remove the group from those edge stacks and jobs (or delete them), then delete the group.",
      });
    }
    if (!(await this.#store.edgeGroups.delete(id))) throw new ServerError("not_found", `Edge group ${id} does not exist.`);
    await this.#store.audit.append({ kind: "edge_group_deleted", detail: { groupId: id, name: details.group.name, by } });
    if (details.members.length > 0) await this.#changes.changed(details.members);
  }

  async #find(id: number): Promise<EdgeGroup> {
    const group = await this.#store.edgeGroups.get(id);
    if (group === null) throw new ServerError("not_found", `Edge group ${id} does not exist.`, { fix: "List the edge groups with GET /api/edge_groups." });
    return group;
  }

  async #check(request: EdgeGroupRequest): Promise<void> {
    checkFleetName(request.name, "Name", "edge group");
    if (request.dynamic) {
      if (request.tagIds.length === 0) throw new ServerError("bad_request", "A dynamic edge group needs at least one tag in TagIDs.", { field: "TagIDs", fix: "List the tags whose environments form the group, or make it static (Dynamic: false) with Endpoints." });
      await this.#tags.checkTagsExist(request.tagIds, "TagIDs");
      return;
    }
    const ids = [...new Set(request.environmentIds)];
    if (ids.length > edgeGroupLimits.staticMembers) {
      throw new ServerError("bad_request", `Endpoints lists ${ids.length} environments; a static edge group holds at most ${edgeGroupLimits.staticMembers}.`, { field: "Endpoints", fix: "Use a dynamic group (tags) for larger sets." });
    }
    const found = await this.#store.environments.getMany(ids);
    const known = new Set(found.map((environment) => environment.id));
    const missing = ids.filter((id) => !known.has(id));
    if (missing.length > 0) {
      throw new ServerError("bad_request", `Environment${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? "…" : ""} in Endpoints do${missing.length === 1 ? "es" : ""} not exist.`, {
        field: "Endpoints",
        details: { missing: missing.slice(0, 100) },
        fix: "List the environments with GET /api/endpoints.",
      });
    }
    const waiting = found.filter((environment) => !environment.userTrusted).map((environment) => environment.id);
    if (waiting.length > 0) {
      throw new ServerError("bad_request", `Environment${waiting.length === 1 ? "" : "s"} ${waiting.slice(0, 20).join(", ")} in Endpoints ${waiting.length === 1 ? "is" : "are"} in the waiting room; a waiting device is in no group.`, {
        field: "Endpoints",
        details: { waiting: waiting.slice(0, 100) },
        fix: "Associate the device first (PUT /api/endpoints/{id} {UserTrusted: true}); if it asked for this group with EDGE_GROUPS it joins on association.",
      });
    }
  }

  async #details(groups: readonly EdgeGroup[]): Promise<EdgeGroupDetails[]> {
    const ids = groups.map((group) => group.id);
    const members = ids.length === 0 ? new Map<number, number[]>() : await this.#store.edgeGroups.membersByGroup(ids);
    const stacks = (await this.#users.get("stack")?.(ids)) ?? new Map<number, readonly string[]>();
    const jobs = (await this.#users.get("job")?.(ids)) ?? new Map<number, readonly string[]>();
    return groups.map((group) => ({ group, members: members.get(group.id) ?? [], stacks: [...(stacks.get(group.id) ?? [])], jobs: [...(jobs.get(group.id) ?? [])] }));
  }
}
