import { edgeStackStatusTypes as types } from "@pier/protocol";
import { ServerError } from "../../errors.ts";
import type { EdgeStackRolloutStore, RolloutRow, RolloutState } from "../../store/edge-stack-rollouts.ts";
import type { EdgeStackStatusRecord, EdgeStackStore } from "../../store/edge-stacks.ts";
import type { AuditLog } from "../../store/store.ts";
import { isDatabaseUnreachable } from "../../store/store-errors.ts";
import type { FleetChanges } from "../fleet-contracts.ts";
import type { Membership } from "../membership.ts";

/** Where a rollout stands (`Pier.Rollout` of `GET /api/edge_stacks/{id}`). */
export interface RolloutProgress {
  state: RolloutState;
  version: number;
  previousVersion: number;
  /** Environments released to `version`. */
  released: number;
  /** Environments in the stack's groups now. */
  total: number;
  succeeded: number;
  failed: number;
  /** When the next batch goes out (the current one settled, the wait running); `null` otherwise. */
  nextBatchAt: Date | null;
  reason: string | null;
}

export interface RolloutEngineOptions {
  readonly store: { readonly edgeStacks: Pick<EdgeStackStore, "get" | "statuses">; readonly edgeStackRollouts: EdgeStackRolloutStore; readonly audit: Pick<AuditLog, "append"> };
  readonly membership: Pick<Membership, "membersOf">;
  readonly changes: FleetChanges;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  readonly now?: () => Date;
  /** How often each replica looks at running rollouts; default 5 s. */
  readonly tickMs?: number;
}

interface Outcome {
  kind: "succeeded" | "failed";
  at: number;
  error?: string;
}

/**
 * A released environment's outcome for `version`: its last Running (7) is a success; a last
 * Error (2), RollingBack (12) or RolledBack (13) a failure; anything else (no report yet, or still
 * at the previous version) pending. `at` is when the server received that report.
 */
export function outcomeOf(status: EdgeStackStatusRecord | undefined, version: number): Outcome | null {
  if (status === undefined || status.version !== version) return null;
  for (let index = status.transitions.length - 1; index >= 0; index -= 1) {
    const transition = status.transitions[index];
    if (transition === undefined) continue;
    if (transition.type === types.running) return { kind: "succeeded", at: status.updatedAt.getTime() };
    if (transition.type === types.error || transition.type === types.rollingBack || transition.type === types.rolledBack) {
      const error = status.transitions.slice(0, index + 1).findLast((candidate) => candidate.error !== undefined)?.error;
      return { kind: "failed", at: status.updatedAt.getTime(), ...(error === undefined ? {} : { error }) };
    }
  }
  return null;
}

interface Assessment {
  row: RolloutRow;
  members: number[];
  released: number[];
  unreleased: number[];
  succeeded: number;
  failed: { environmentId: number; error?: string }[];
  pending: number;
  nextBatchAt: Date | null;
}

/**
 * Staged rollouts of edge stack updates (docs/fleet.md "Rollouts"). Everything it decides is
 * read from the database at each tick, and every step is a compare-and-set on the rollout row,
 * so any replica may tick (only one releases a given batch) and a restart resumes where the
 * rollout stood.
 *
 * @example
 * const engine = new RolloutEngine({ store, membership, changes, log });
 * engine.start(); // ticks every 5 s
 * await engine.pause(stackId);
 */
export class RolloutEngine {
  readonly #options: RolloutEngineOptions;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: RolloutEngineOptions) {
    this.#options = options;
  }

  #now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  /** Ticks every `tickMs` until `stop()`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#ticking !== undefined) return;
      this.#ticking = this.tick()
        // An unreachable database is said once per outage by the store; this ticks every 5 s.
        .catch((error: unknown) => this.#options.log(isDatabaseUnreachable(error) ? "debug" : "warn", `edge stack rollouts: a tick failed (${error instanceof Error ? error.message : String(error)}); the next one tries again`))
        .finally(() => (this.#ticking = undefined));
    }, this.#options.tickMs ?? 5_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  /** Advances every running rollout by at most one step. */
  async tick(): Promise<void> {
    for (const row of await this.#options.store.edgeStackRollouts.running()) {
      try {
        await this.#step(row);
      } catch (error) {
        this.#options.log("warn", `edge stack ${row.stackId}: rollout of version ${row.version} not advanced (${error instanceof Error ? error.message : String(error)}); tried again at the next tick`);
      }
    }
  }

  /** Progress of the rollout of the stack's current version; `null` when none was started. */
  async progress(stackId: number): Promise<RolloutProgress | null> {
    const row = await this.#options.store.edgeStackRollouts.current(stackId);
    if (row === null) return null;
    const assessed = await this.#assess(row);
    return {
      state: row.state,
      version: row.version,
      previousVersion: row.previousVersion,
      released: assessed?.released.length ?? 0,
      total: assessed?.members.length ?? 0,
      succeeded: assessed?.succeeded ?? 0,
      failed: assessed?.failed.length ?? 0,
      nextBatchAt: row.state === "running" ? (assessed?.nextBatchAt ?? null) : null,
      reason: row.reason,
    };
  }

  /** Stops releasing batches (released environments keep the new version). */
  async pause(stackId: number, by = "admin"): Promise<void> {
    await this.#transition(stackId, ["running"], "paused", "paused by an administrator", "pause", by);
  }

  /** Releases batches again; the failures seen so far are accepted (the threshold counts from them). */
  async resume(stackId: number, by = "admin"): Promise<void> {
    const row = await this.#options.store.edgeStackRollouts.current(stackId);
    const assessed = row === null ? null : await this.#assess(row);
    const failed = assessed?.failed.length ?? 0;
    const threshold = row === null ? undefined : Math.max(row.failureThreshold, failed);
    await this.#transition(stackId, ["paused"], "running", null, "resume", by, threshold);
    await this.tick();
  }

  /** Ends the rollout: every environment, released or not, runs the previous version again. */
  async abort(stackId: number, by = "admin"): Promise<void> {
    const released = await this.#releasedOfCurrent(stackId);
    await this.#transition(stackId, ["running", "paused"], "aborted", "aborted by an administrator", "abort", by, undefined, true);
    if (released.length > 0) await this.#options.changes.changed(released);
  }

  async #releasedOfCurrent(stackId: number): Promise<number[]> {
    const row = await this.#options.store.edgeStackRollouts.current(stackId);
    return row === null ? [] : this.#options.store.edgeStackRollouts.released(stackId, row.version);
  }

  async #transition(stackId: number, from: readonly RolloutState[], to: RolloutState, reason: string | null, action: string, by: string, failureThreshold?: number, unrelease = false): Promise<void> {
    const before = await this.#options.store.edgeStackRollouts.transition(stackId, from, to, reason, this.#now(), { unrelease, ...(failureThreshold === undefined ? {} : { failureThreshold }) });
    if (before !== null) {
      this.#options.log("info", `edge stack ${stackId}: rollout of version ${before.version} ${to} (${action} by ${by})`);
      await this.#audit(`edge_stack_rollout_${to === "running" ? "resumed" : to}`, before, by, reason);
      return;
    }
    const current = await this.#options.store.edgeStackRollouts.current(stackId);
    if (current === null) {
      throw new ServerError("conflict", `Edge stack ${stackId} has no rollout of its current version to ${action}.`, { fix: "Start one with PUT /api/edge_stacks/{id} and a rollout: {batchSize|batchPercent, waitSeconds, failureThreshold}." });
    }
    throw new ServerError("conflict", `The rollout of edge stack ${stackId} (version ${current.version}) is ${current.state}: it cannot ${action} (only a ${from.join(" or ")} rollout can).`, {
      details: { state: current.state },
    });
  }

  /** Audit kinds `edge_stack_rollout_paused|resumed|aborted` (an automatic pause `by: "pier"`, with its reason). */
  async #audit(kind: string, row: RolloutRow, by: string, reason: string | null): Promise<void> {
    await this.#options.store.audit.append({ kind, at: this.#now(), detail: { stackId: row.stackId, version: row.version, previousVersion: row.previousVersion, by, ...(reason === null ? {} : { reason }) } });
  }

  async #assess(row: RolloutRow): Promise<Assessment | null> {
    const stack = await this.#options.store.edgeStacks.get(row.stackId);
    if (stack === null || stack.version !== row.version) return null;
    const [members, released, statuses] = await Promise.all([
      this.#options.membership.membersOf(stack.groupIds),
      this.#options.store.edgeStackRollouts.released(row.stackId, row.version),
      this.#options.store.edgeStacks.statuses(row.stackId),
    ]);
    const byEnvironment = new Map(statuses.map((status) => [status.environmentId, status]));
    const releasedSet = new Set(released);
    let succeeded = 0;
    let pending = 0;
    let settledAt = 0;
    const failed: Assessment["failed"] = [];
    for (const environmentId of released) {
      const outcome = outcomeOf(byEnvironment.get(environmentId), row.version);
      if (outcome === null) {
        pending += 1;
        continue;
      }
      settledAt = Math.max(settledAt, outcome.at);
      if (outcome.kind === "succeeded") succeeded += 1;
      else failed.push({ environmentId, ...(outcome.error === undefined ? {} : { error: outcome.error }) });
    }
    const unreleased = members.filter((id) => !releasedSet.has(id)).sort((a, b) => a - b);
    let nextBatchAt: Date | null = null;
    if (pending === 0 && unreleased.length > 0) {
      // The first batch goes at once; later ones `waitSeconds` after the last report that settled the previous batch.
      nextBatchAt = released.length === 0 || row.releasedAt === null ? this.#now() : new Date(Math.max(settledAt, row.releasedAt.getTime()) + row.waitSeconds * 1000);
    }
    return { row, members, released, unreleased, succeeded, failed, pending, nextBatchAt };
  }

  async #step(row: RolloutRow): Promise<void> {
    const assessed = await this.#assess(row);
    if (assessed === null) return;
    const rollouts = this.#options.store.edgeStackRollouts;
    const now = this.#now();
    if (assessed.failed.length > row.failureThreshold) {
      const examples = assessed.failed
        .slice(0, 3)
        .map((failure) => `environment ${failure.environmentId}${failure.error === undefined ? "" : `: ${failure.error.slice(0, 200)}`}`)
        .join("; ");
      const reason = `${assessed.failed.length} of ${assessed.released.length} released environments failed (threshold ${row.failureThreshold}): ${examples}`;
      if ((await rollouts.transition(row.stackId, ["running"], "paused", reason, now, { seen: row.updatedAt })) !== null) {
        this.#options.log("warn", `edge stack ${row.stackId}: rollout of version ${row.version} paused: ${reason}`);
        await this.#audit("edge_stack_rollout_paused", row, "pier", reason);
      }
      return;
    }
    if (assessed.pending > 0) return;
    if (assessed.unreleased.length === 0) {
      if ((await rollouts.transition(row.stackId, ["running"], "completed", null, now, { seen: row.updatedAt })) !== null) {
        this.#options.log("info", `edge stack ${row.stackId}: rollout of version ${row.version} completed (${assessed.succeeded} running it, ${assessed.failed.length} failed)`);
      }
      return;
    }
    if (assessed.nextBatchAt === null || assessed.nextBatchAt.getTime() > now.getTime()) return;
    const size = row.batchSize ?? Math.max(1, Math.ceil((assessed.members.length * (row.batchPercent ?? 100)) / 100));
    const batch = assessed.unreleased.slice(0, size);
    if (!(await rollouts.release(row, batch, now))) return; // another replica released it
    this.#options.log("info", `edge stack ${row.stackId}: version ${row.version} released to ${batch.length} more environments (${assessed.released.length + batch.length} of ${assessed.members.length})`);
    await this.#options.changes.changed(batch);
  }
}
