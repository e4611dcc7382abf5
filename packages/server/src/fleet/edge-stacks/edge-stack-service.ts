import { type DesiredStack, type RegistryCredential, type StackReport, edgeStackStatusTypes, fleetLimits, stackNamePattern } from "@pier/protocol";
import { ServerError } from "../../errors.ts";
import type { EdgeStackEnvVar, EdgeStackRecord, EdgeStackRolloutRecord, EdgeStackStatusRecord, EdgeStackStore } from "../../store/edge-stacks.ts";
import type { EdgeGroupStore } from "../../store/edge-groups.ts";
import type { RolloutOptions } from "../../store/edge-stack-rollouts.ts";
import type { RegistryStore } from "../../store/registries.ts";
import type { AuditLog, NewAuditEvent } from "../../store/store.ts";
import type { FleetChanges } from "../fleet-contracts.ts";
import type { Membership } from "../membership.ts";
import { validateComposeFile } from "./compose-validation.ts";
import { nextStatus } from "./stack-status.ts";

/** Bounds of an edge stack's inputs beyond `fleetLimits` (docs/fleet.md "Limits"). */
export const edgeStackLimits = {
  /** Edge groups one stack is deployed to. */
  edgeGroups: 100,
} as const;

/** A variable name a compose file can reference (`${NAME}`). */
const envVarNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What creating (or updating) a stack takes, in Pier's names (the route maps Portainer's). */
export interface EdgeStackInput {
  name: string;
  composeFile: string;
  groupIds: readonly number[];
  envVars: readonly EdgeStackEnvVar[];
  registryIds: readonly number[];
}

/** A stack with what the API shows beside it: its status rows and how many environments it targets. */
export interface EdgeStackDetails {
  stack: EdgeStackRecord;
  statuses: EdgeStackStatusRecord[];
  /** The environments of its groups now (Portainer's `NumDeployments`). */
  targets: number;
  /** The rollout of its current version, when one was started. */
  rollout: EdgeStackRolloutRecord | null;
}

/** What the edge stack service acts on. */
export interface EdgeStackServiceOptions {
  readonly store: {
    readonly edgeStacks: EdgeStackStore;
    readonly edgeGroups: Pick<EdgeGroupStore, "get">;
    readonly registries: Pick<RegistryStore, "getMany">;
    readonly audit: Pick<AuditLog, "append">;
  };
  readonly membership: Membership;
  readonly changes: FleetChanges;
  /** Unsealed credentials of registries (fleet/registries.ts `credentialsFor`). */
  readonly credentialsFor: (registryIds: readonly number[]) => Promise<RegistryCredential[]>;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  readonly now?: () => Date;
}

/**
 * Edge stacks (docs/fleet.md "Edge stacks"): validates and stores them, tells the desired-state
 * service which environments changed, gives each environment its stacks (`desiredStacks`, the
 * `DesiredStateSources.stacks` source) and keeps what devices report (`recordStatus`, the
 * `FleetReportSinks.stackStatus` sink).
 *
 * @example
 * const stacks = new EdgeStackService({ store, membership, changes, credentialsFor, log });
 * const { stack } = await stacks.create({ name: "web", composeFile, groupIds: [1], envVars: [], registryIds: [] }, "admin");
 */
export class EdgeStackService {
  readonly #options: EdgeStackServiceOptions;
  readonly #now: () => Date;

  constructor(options: EdgeStackServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  async list(): Promise<EdgeStackDetails[]> {
    const stacks = await this.#options.store.edgeStacks.list();
    const statuses = await this.#options.store.edgeStacks.statusesOf(stacks.map((stack) => stack.id));
    return Promise.all(
      stacks.map(async (stack) => ({
        stack,
        statuses: statuses.filter((status) => status.stackId === stack.id),
        targets: (await this.#options.membership.membersOf(stack.groupIds)).length,
        rollout: await this.#options.store.edgeStacks.rolloutOf(stack.id),
      })),
    );
  }

  async get(id: number): Promise<EdgeStackDetails> {
    const stack = await this.#find(id);
    return {
      stack,
      statuses: await this.#options.store.edgeStacks.statuses(id),
      targets: (await this.#options.membership.membersOf(stack.groupIds)).length,
      rollout: await this.#options.store.edgeStacks.rolloutOf(id),
    };
  }

  /** Validates, stores at version 1, audits, and recomputes the desired state of its groups' members. */
  async create(input: EdgeStackInput, by: string): Promise<EdgeStackDetails> {
    await this.#check(input);
    // The stack and its audit entry commit together (chaos suite, server-crash).
    let created: EdgeStackRecord | undefined;
    await this.#options.store.audit.append(
      () => this.#auditEntry("edge_stack_created", required(created), by),
      async (transaction) => (created = await this.#options.store.edgeStacks.create(input, this.#now(), transaction)),
    );
    const stack = required(created);
    await this.#changed(stack.groupIds);
    return { stack, statuses: [], targets: (await this.#options.membership.membersOf(stack.groupIds)).length, rollout: null };
  }

  /**
   * Replaces file, groups, variables and registries; a new version when any of file, variables
   * or registries changed, or `updateVersion` asks for a redeploy. Members of the groups before
   * and after are recomputed (those that left get the stack removed).
   */
  async update(id: number, input: Omit<EdgeStackInput, "name"> & { updateVersion: boolean; rollout?: RolloutOptions }, by: string): Promise<EdgeStackDetails> {
    const current = await this.#find(id);
    await this.#check({ ...input, name: current.name });
    // The new version and its audit entry commit together (chaos suite, server-crash).
    let updated: { before: EdgeStackRecord; after: EdgeStackRecord } | undefined;
    await this.#options.store.audit.append(
      () => this.#auditEntry("edge_stack_updated", required(updated).after, by, { previousVersion: required(updated).before.version, previousGroupIds: required(updated).before.groupIds }),
      async (transaction) =>
        (updated = await this.#options.store.edgeStacks.update(
          id,
          { composeFile: input.composeFile, envVars: input.envVars, registryIds: input.registryIds, groupIds: input.groupIds, forceNewVersion: input.updateVersion, ...(input.rollout === undefined ? {} : { rollout: input.rollout }) },
          this.#now(),
          transaction,
        )),
    );
    const { before, after } = required(updated);
    await this.#changed([...before.groupIds, ...after.groupIds]);
    return this.get(id);
  }

  /** Deletes the stack; its devices get it removed through their desired state (status rows stay until they report Removed). */
  async delete(id: number, by: string): Promise<void> {
    const stack = await this.#options.store.edgeStacks.delete(id);
    if (stack === null) throw notFound(id);
    await this.#audit("edge_stack_deleted", stack, by);
    await this.#changed(stack.groupIds);
  }

  /** The compose file of `version` (default the latest); `not_found` for a stack or version that does not exist. */
  async file(id: number, version?: number): Promise<string> {
    const stack = await this.#find(id);
    if (version === undefined || version === stack.version) return stack.composeFile;
    const stored = await this.#options.store.edgeStacks.getVersion(id, version);
    if (stored === null) throw new ServerError("not_found", `Edge stack ${id} has no version ${version} (its versions are 1 to ${stack.version}).`, { field: "version" });
    return stored.composeFile;
  }

  /** Per group a stack uses, its stacks' names (shown as `HasEdgeStack`; such a group is not deleted). */
  namesByGroup(groupIds: readonly number[]): Promise<ReadonlyMap<number, readonly string[]>> {
    return this.#options.store.edgeStacks.namesByGroup(groupIds);
  }

  /**
   * `DesiredStateSources.stacks`: the stacks of the environment's groups, each at the version
   * targeted for it (a rollout may hold it at the previous one), with the registries'
   * credentials. Nothing is stored per device until it reports. `groups`: the environment's
   * groups when the caller read them already.
   */
  async desiredStacks(environmentId: number, groups?: readonly number[]): Promise<DesiredStack[]> {
    const groupIds = groups ?? (await this.#options.membership.groupsOf(environmentId));
    if (groupIds.length === 0) return [];
    let targeted = await this.#options.store.edgeStacks.desiredFor(environmentId, groupIds);
    if (targeted.length > fleetLimits.stacksPerDevice) {
      this.#options.log("warn", `environment ${environmentId} is in groups with ${targeted.length} edge stacks; only the first ${fleetLimits.stacksPerDevice} (by id) are sent. Take it out of some groups.`);
      targeted = targeted.slice(0, fleetLimits.stacksPerDevice);
    }
    return Promise.all(
      targeted.map(async (stack) => ({
        id: stack.id,
        name: stack.name,
        version: stack.version,
        deploymentType: 0 as const,
        composeFile: stack.composeFile,
        envVars: stack.envVars,
        registries: stack.registryIds.length === 0 ? [] : await this.#options.credentialsFor(stack.registryIds),
      })),
    );
  }

  /**
   * `FleetReportSinks.stackStatus`: appends the transition to the environment's status row (see
   * `nextStatus`: an older version's report is ignored; a Removed report of a stack that was
   * deleted, or that the environment no longer belongs to, deletes the row). Resolves `true`
   * when the transition was stored.
   */
  async recordStatus(environmentId: number, report: StackReport): Promise<boolean> {
    const stacks = this.#options.store.edgeStacks;
    const [existing, stack] = await Promise.all([stacks.status(report.stackId, environmentId), stacks.get(report.stackId)]);
    let member = false;
    if (stack !== null && report.type === edgeStackStatusTypes.removed) {
      const groups = new Set(await this.#options.membership.groupsOf(environmentId));
      member = stack.groupIds.some((id) => groups.has(id));
    }
    const next = nextStatus({ environmentId, report, existing, stack: stack === null ? null : { version: stack.version, targetsEnvironment: member || report.type !== edgeStackStatusTypes.removed }, at: this.#now() });
    if (next.action === "ignore") {
      this.#options.log("debug", `edge stack ${report.stackId}: report from environment ${environmentId} ignored (${next.reason})`);
      return false;
    }
    if (next.action === "delete") {
      await stacks.deleteStatus(report.stackId, environmentId);
      return false;
    }
    try {
      await stacks.putStatus(next.row);
      return true;
    } catch (error) {
      // The environment was removed meanwhile: nothing to keep.
      if (error instanceof ServerError && error.code === "not_found") return false;
      throw error;
    }
  }

  async #find(id: number): Promise<EdgeStackRecord> {
    const stack = await this.#options.store.edgeStacks.get(id);
    if (stack === null) throw notFound(id);
    return stack;
  }

  /** Domain checks beyond the route's bounds: name, groups and registries that exist, variables, the compose file. */
  async #check(input: EdgeStackInput): Promise<void> {
    if (!stackNamePattern.test(input.name)) {
      throw new ServerError("bad_request", `Invalid request: name: "${input.name.slice(0, 64)}" is not a valid stack name.`, {
        field: "name",
        fix: "Use 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter or digit (a Compose project name).",
      });
    }
    if (input.groupIds.length === 0) throw new ServerError("bad_request", "Invalid request: edgeGroups: at least one edge group is needed.", { field: "edgeGroups", fix: "Name the edge groups whose environments run the stack." });
    const seen = new Set<string>();
    for (const variable of input.envVars) {
      if (!envVarNamePattern.test(variable.name)) {
        throw new ServerError("bad_request", `Invalid request: envVars: "${variable.name.slice(0, 64)}" is not a variable name.`, { field: "envVars", fix: "Use letters, digits and '_', not starting with a digit." });
      }
      if (seen.has(variable.name)) throw new ServerError("bad_request", `Invalid request: envVars: "${variable.name}" is given twice.`, { field: "envVars", fix: "Give each variable once." });
      seen.add(variable.name);
    }
    const groups = await Promise.all([...new Set(input.groupIds)].map(async (id) => ({ id, group: await this.#options.store.edgeGroups.get(id) })));
    const missingGroups = groups.filter((entry) => entry.group === null).map((entry) => entry.id);
    if (missingGroups.length > 0) {
      throw new ServerError("bad_request", `Invalid request: edgeGroups: no edge group with id ${missingGroups.join(", ")}.`, { field: "edgeGroups", fix: "List the groups with GET /api/edge_groups.", details: { missing: missingGroups } });
    }
    const registryIds = [...new Set(input.registryIds)];
    const found = new Set((await this.#options.store.registries.getMany(registryIds)).map((registry) => registry.id));
    const missingRegistries = registryIds.filter((id) => !found.has(id));
    if (missingRegistries.length > 0) {
      throw new ServerError("bad_request", `Invalid request: registries: no registry with id ${missingRegistries.join(", ")}.`, { field: "registries", fix: "List the registries with GET /api/registries.", details: { missing: missingRegistries } });
    }
    validateComposeFile(input.composeFile, input.envVars);
  }

  async #changed(groupIds: readonly number[]): Promise<void> {
    const unique = [...new Set(groupIds)];
    if (unique.length === 0) return;
    await this.#options.changes.changed(await this.#options.membership.membersOf(unique));
  }

  async #audit(kind: "edge_stack_created" | "edge_stack_updated" | "edge_stack_deleted", stack: EdgeStackRecord, by: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.#options.store.audit.append(this.#auditEntry(kind, stack, by, extra));
  }

  #auditEntry(kind: "edge_stack_created" | "edge_stack_updated" | "edge_stack_deleted", stack: EdgeStackRecord, by: string, extra: Record<string, unknown> = {}): NewAuditEvent {
    return { kind, at: this.#now(), detail: { stackId: stack.id, name: stack.name, version: stack.version, groupIds: stack.groupIds, registryIds: stack.registryIds, by, ...extra } };
  }
}

/** What a change run inside an audit entry's transaction made (set by then: the entry is described after it). */
function required<T>(made: T | undefined): T {
  if (made === undefined) throw new ServerError("store_failed", "The edge stack change was not stored.");
  return made;
}

function notFound(id: number): ServerError {
  return new ServerError("not_found", `Edge stack ${id} does not exist.`, { fix: "List the stacks with GET /api/edge_stacks." });
}
