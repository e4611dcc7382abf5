/**
 * The fleet's JSON shapes the UI reads (docs/fleet.md; Portainer's names, PascalCase answers and
 * camelCase requests as Portainer has them). Written by hand, like types.ts.
 */

/** `GET /api/tags` entries. */
export interface Tag {
  ID: number;
  Name: string;
}

/** `GET /api/edge_groups` entries; `Endpoints` are the member environments (computed for a dynamic group). */
export interface EdgeGroup {
  Id: number;
  Name: string;
  Dynamic: boolean;
  TagIds: number[];
  Endpoints: number[];
  /** A dynamic group's rule: any of its tags (true) or all of them (false). */
  PartialMatch: boolean;
  HasEdgeStack: boolean;
  HasEdgeJob: boolean;
}

/** The body of `POST /api/edge_groups` and `PUT /api/edge_groups/{id}`. */
export interface EdgeGroupBody {
  Name: string;
  Dynamic: boolean;
  TagIDs: number[];
  Endpoints: number[];
  PartialMatch: boolean;
}

/** One status transition of a stack on a device (Portainer's numeric `Type`, Unix seconds). */
export interface StackStatusEvent {
  Type: number;
  Time: number;
  /** Empty when none. */
  Error?: string;
  /** Portainer's, on a RolledBack transition: the version running again. */
  RollbackTo?: number;
}

/** `Status["<envId>"]` of an edge stack. */
export interface EdgeStackEnvironmentStatus {
  EndpointID: number;
  Status: StackStatusEvent[];
  /** Portainer's: the version the transitions are about. */
  DeploymentInfo?: { Version?: number };
  /** Pier's, when a server adds them: the version reported, and the one running again after a rollback. */
  Pier?: { Version?: number; RolledBackTo?: number | null };
}

/** A stack's staged rollout of its current version (`Pier.Rollout`, docs/fleet.md "Rollouts"). */
export interface EdgeStackRollout {
  Version: number;
  /** What environments not yet released keep. */
  PreviousVersion: number;
  State: "running" | "paused" | "aborted" | "completed";
  BatchSize: number | null;
  BatchPercent: number | null;
  WaitSeconds: number;
  FailureThreshold: number;
  /** Unix seconds. */
  StartedDate: number;
  Released: number;
  Total: number;
  Succeeded?: number;
  Failed?: number;
  /** Unix seconds; null while a batch deploys, paused or finished. */
  NextBatchAt?: number | null;
  Reason?: string | null;
}

/** The `rollout` of `PUT /api/edge_stacks/{id}`: stage the new version in batches. */
export interface RolloutOptions {
  batchSize?: number;
  batchPercent?: number;
  waitSeconds: number;
  failureThreshold: number;
}

/** `GET /api/edge_stacks` entries. */
export interface EdgeStack {
  Id: number;
  Name: string;
  Status: Record<string, EdgeStackEnvironmentStatus>;
  /** Unix seconds. */
  CreationDate: number;
  EdgeGroups: number[];
  Version: number;
  NumDeployments: number;
  DeploymentType: number;
  EnvVars?: EnvVar[] | null;
  Registries?: number[] | null;
  Pier?: { Rollout?: EdgeStackRollout | null };
}

/** An environment variable of a stack. */
export interface EnvVar {
  name: string;
  value: string;
}

/** The body of `POST /api/edge_stacks/create/string`. */
export interface EdgeStackCreateBody {
  name: string;
  stackFileContent: string;
  edgeGroups: number[];
  deploymentType: 0;
  envVars: EnvVar[];
  registries: number[];
}

/** The body of `PUT /api/edge_stacks/{id}`. */
export interface EdgeStackUpdateBody {
  stackFileContent: string;
  edgeGroups: number[];
  updateVersion: boolean;
  deploymentType: 0;
  envVars: EnvVar[];
  registries: number[];
  rollout?: RolloutOptions;
}

/** `GET /api/registries` entries (never the password). */
export interface Registry {
  Id: number;
  Name: string;
  URL: string;
  Authentication: boolean;
  Username: string;
}

/** Where a device's job output stands: 1 idle, 2 asked for (pending), 3 collected. */
export type LogsStatus = 1 | 2 | 3;

/** `GET /api/edge_jobs` entries. */
export interface EdgeJob {
  Id: number;
  Name: string;
  CronExpression: string;
  Recurring: boolean;
  EdgeGroups: number[];
  Endpoints: Record<string, { LogsStatus: LogsStatus; CollectLogs: boolean }>;
  /** Unix seconds. */
  Created: number;
  Version: number;
}

/** The body of `POST /api/edge_jobs/create/string` and `PUT /api/edge_jobs/{id}`. */
export interface EdgeJobBody {
  name: string;
  cronExpression: string;
  recurring: boolean;
  edgeGroups: number[];
  endpoints: number[];
  fileContent: string;
}

/** The last run of a job on one device (milliseconds since the epoch). */
export interface JobRun {
  StartedAt: number | string;
  FinishedAt: number | string;
  ExitCode?: number | null;
  Error?: string | null;
}

/** `GET /api/edge_jobs/{id}/tasks` entries: one per target environment. */
export interface EdgeJobTask {
  Id: string;
  EndpointId: number;
  EndpointName?: string;
  LogsStatus: LogsStatus;
  Pier?: { LastRun?: JobRun | null };
}

/** One device's progress in an agent update schedule (`time`: Unix seconds of its report). */
export interface AgentUpdateDeviceStatus {
  status: string;
  agentVersion?: string;
  error?: string;
  time?: number;
}

/** `GET /api/edge_update_schedules[/{id}]` (Portainer BE's EdgeUpdateResponse, with the image and progress). */
export interface AgentUpdateSchedule {
  id: number;
  name: string;
  type: number;
  version: string;
  agentImage: string;
  edgeGroupIds: number[];
  environmentIds: number[];
  /** Unix seconds. */
  created: number;
  scheduledTime: string;
  deadlineSeconds: number;
  /** Per environment id. */
  status: Record<string, AgentUpdateDeviceStatus>;
}

/** The body of `POST /api/edge_update_schedules`. */
export interface AgentUpdateBody {
  name: string;
  groupIDs: number[];
  agentImage: string;
  deadlineSeconds: number;
  type: 1;
}
