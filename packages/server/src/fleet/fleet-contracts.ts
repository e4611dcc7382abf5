import type { DesiredAgentUpdate, DesiredJob, DesiredStack, JobLogsUpload, JobRunReport, StackReport, AgentUpdateReport } from "@pier/protocol";

/**
 * The seams between the fleet parts on the server (docs/fleet.md): each feature (stacks, jobs,
 * agent updates) says what an environment must run and takes what its devices report; the
 * desired-state service composes them, versions the result and pushes it.
 */

/**
 * What one feature asks of one (associated) environment. `groupIds` are the edge groups it is in
 * (ascending, `Membership.groupsOf`), read once per computation for all three.
 */
export interface DesiredStateSources {
  /** The stacks environment `environmentId` must run, each at the version released to it (registry credentials included). */
  stacks(environmentId: number, groupIds: readonly number[]): Promise<DesiredStack[]>;
  /** Its jobs. */
  jobs(environmentId: number, groupIds: readonly number[]): Promise<DesiredJob[]>;
  /** The agent update scheduled for it, if any. */
  agentUpdate(environmentId: number, groupIds: readonly number[]): Promise<DesiredAgentUpdate | undefined>;
}

/** Where a device's reports go, after the intake validated them (each call stores before it resolves). */
export interface FleetReportSinks {
  stackStatus(environmentId: number, report: StackReport): Promise<void>;
  jobRun(environmentId: number, run: JobRunReport): Promise<void>;
  jobLogs(environmentId: number, upload: JobLogsUpload): Promise<void>;
  agentUpdate(environmentId: number, report: AgentUpdateReport): Promise<void>;
}

/**
 * Told after every write that may change what some environments must run: recomputes their
 * desired state, stores its version, and announces it so the replicas holding their sessions push it.
 */
export interface FleetChanges {
  /** `"all"` when the set is not known cheaply (a group rule changed, a registry changed). */
  changed(environmentIds: readonly number[] | "all"): Promise<void>;
}
