import type { DesiredJob, DesiredStack, JobLogsUpload, JobRunReport, StackReport } from "@pier/protocol";

/**
 * The seams between the fleet parts of the agent (docs/fleet.md): the desired-state sync keeps
 * the target and the outbox; the stack runtime and the job scheduler act on the target and
 * report through the reporter.
 */

/** Queues reports for the server; never throws, never loses one (kept in DATA/fleet/outbox.json until acknowledged). */
export interface FleetReporter {
  stack(report: StackReport): void;
  job(run: JobRunReport): void;
  jobLogs(upload: JobLogsUpload): void;
}

/** Applies stacks to the engine. */
export interface StackRuntime {
  /**
   * Reconciles the engine towards `stacks` (the whole set this device must run: a stack that is
   * no longer listed is removed). Idempotent; called after each change and every 30 s. Never
   * rejects: failures are reported (and rolled back) per stack, and retried on the next call.
   */
  reconcile(stacks: readonly DesiredStack[], signal: AbortSignal): Promise<void>;
}

/** Runs jobs on schedule. */
export interface JobRuntime {
  /** Replaces the schedule with `jobs` (the whole set); a job asking for logs gets them uploaded. */
  update(jobs: readonly DesiredJob[]): void;
  /** Stops every schedule and waits for running jobs' containers to be removed. */
  close(): Promise<void>;
}
