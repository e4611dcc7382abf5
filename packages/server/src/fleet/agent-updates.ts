import type { AgentUpdateReport, DesiredAgentUpdate } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { AgentUpdateProgress, AgentUpdateSchedule, AgentUpdateStore } from "../store/agent-updates.ts";
import type { FleetChanges } from "./fleet-contracts.ts";
import type { Membership } from "./membership.ts";

/** Bounds on a schedule's fields (each tested in api/routes/agent-updates.test.ts). */
export const agentUpdateLimits = { name: 128, image: 512, groups: 100, minDeadlineSeconds: 30, maxDeadlineSeconds: 3600 } as const;

/** A schedule with its targets and what each device reported. */
export interface AgentUpdateView extends AgentUpdateSchedule {
  /** The environments of its groups now. */
  environmentIds: number[];
  progress: AgentUpdateProgress[];
}

/** Options of `AgentUpdateService`. */
export interface AgentUpdateServiceOptions {
  readonly store: AgentUpdateStore;
  readonly membership: Membership;
  readonly changes: FleetChanges;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * Agent updates (docs/fleet.md "Agent updates"): a schedule names an agent image and edge
 * groups; each member's desired state carries `agentUpdate` (the newest schedule naming one of
 * its groups) until the device reports a result for it — `updated`, `rolled_back` or `failed` —
 * which is kept as that device's progress and ends the offer (no retry loop: a new schedule asks again).
 *
 * @example
 * const schedule = await updates.create({ name: "agent 0.2", image: "pier-agent:0.2", groupIds: [1], deadlineSeconds: 300 });
 */
export class AgentUpdateService {
  readonly #options: AgentUpdateServiceOptions;

  constructor(options: AgentUpdateServiceOptions) {
    this.#options = options;
  }

  async create(fields: Omit<AgentUpdateSchedule, "id" | "createdAt">): Promise<AgentUpdateView> {
    const schedule = await this.#options.store.create(fields, new Date());
    const members = await this.#options.membership.membersOf(schedule.groupIds);
    await this.#options.changes.changed(members);
    return { ...schedule, environmentIds: members, progress: [] };
  }

  async list(): Promise<AgentUpdateView[]> {
    return Promise.all((await this.#options.store.list()).map((schedule) => this.#view(schedule)));
  }

  async get(id: number): Promise<AgentUpdateView> {
    return this.#view(await this.#schedule(id));
  }

  async delete(id: number): Promise<void> {
    const schedule = await this.#schedule(id);
    const members = await this.#options.membership.membersOf(schedule.groupIds);
    await this.#options.store.delete(id);
    await this.#options.changes.changed(members);
  }

  /**
   * `DesiredStateSources.agentUpdate`: the newest schedule naming one of the environment's
   * groups, until it reported a result for it. `groupIds`: its groups when the caller read them already.
   */
  async desiredUpdate(environmentId: number, groupIds?: readonly number[]): Promise<DesiredAgentUpdate | undefined> {
    const groups = new Set(groupIds ?? (await this.#options.membership.groupsOf(environmentId)));
    if (groups.size === 0) return undefined;
    const schedule = (await this.#options.store.list()).find((candidate) => candidate.groupIds.some((id) => groups.has(id)));
    if (!schedule) return undefined;
    if ((await this.#options.store.progressOf(environmentId, [schedule.id])).length > 0) return undefined;
    return { id: schedule.id, image: schedule.image, deadlineSeconds: schedule.deadlineSeconds };
  }

  /** `FleetReportSinks.agentUpdate`: keeps the device's result; its desired state no longer asks. */
  async record(environmentId: number, report: AgentUpdateReport): Promise<void> {
    const kept = await this.#options.store.record({ scheduleId: report.id, environmentId, status: report.status, agentVersion: report.agentVersion, error: report.error ?? null, updatedAt: new Date() });
    if (!kept) return;
    this.#options.log(report.status === "updated" ? "info" : "warn", `agent update ${report.id} on environment ${environmentId}: ${report.status} (agent ${report.agentVersion})${report.error ? `: ${report.error}` : ""}`);
    await this.#options.changes.changed([environmentId]);
  }

  async #schedule(id: number): Promise<AgentUpdateSchedule> {
    const schedule = await this.#options.store.get(id);
    if (!schedule) throw new ServerError("not_found", `There is no agent update schedule ${id}.`, { fix: "List them with GET /api/edge_update_schedules." });
    return schedule;
  }

  async #view(schedule: AgentUpdateSchedule): Promise<AgentUpdateView> {
    const [environmentIds, progress] = await Promise.all([this.#options.membership.membersOf(schedule.groupIds), this.#options.store.progress(schedule.id)]);
    return { ...schedule, environmentIds, progress };
  }
}
