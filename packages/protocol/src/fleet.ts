import { z } from "zod";

/**
 * Fleet deployment on the wire (docs/fleet.md): the desired state a device fetches, and the
 * reports it sends back. The server computes a device's desired state from its edge groups;
 * the agent keeps the last one in its data directory and reconciles the engine towards it,
 * connected or not.
 */

/**
 * Portainer's edge stack status types (`portainer.EdgeStackStatusType`), kept by number so
 * scripts written against Portainer read Pier's `Status["<envId>"].Status[].Type` unchanged.
 */
export const edgeStackStatusTypes = {
  pending: 0,
  deploymentReceived: 1,
  error: 2,
  acknowledged: 3,
  removed: 4,
  remoteUpdateSuccess: 5,
  imagesPulled: 6,
  running: 7,
  deploying: 8,
  removing: 9,
  pausedDeploying: 10,
  pausedRemoving: 11,
  rollingBack: 12,
  rolledBack: 13,
  completed: 14,
} as const;
export type EdgeStackStatusName = keyof typeof edgeStackStatusTypes;
export type EdgeStackStatusType = (typeof edgeStackStatusTypes)[EdgeStackStatusName];

/** The bounds every fleet input is held to, on both ends (docs/fleet.md "Limits"). */
export const fleetLimits = {
  /** A compose file (`stackFileContent`), in bytes of UTF-8. */
  composeFileBytes: 256 * 1024,
  /** A job's script (`fileContent`), in bytes of UTF-8. */
  jobScriptBytes: 64 * 1024,
  /** Stacks one device may be asked to run. */
  stacksPerDevice: 100,
  /** Jobs one device may be asked to run. */
  jobsPerDevice: 50,
  /** Environment variables of one stack, and the length of a name and of a value. */
  envVars: 100,
  envVarName: 128,
  envVarValue: 4096,
  /** Registries one stack may pull from. */
  registriesPerStack: 10,
  /** Events in one report, and a report's body in bytes. */
  reportEvents: 200,
  reportBytes: 256 * 1024,
  /** An error message in a report. */
  errorMessage: 2048,
  /** A job's collected output, in bytes; the agent keeps (and uploads) the last this many. */
  jobLogBytes: 1024 * 1024,
  /** A whole desired-state document, in bytes of JSON. */
  desiredStateBytes: 16 * 1024 * 1024,
} as const;

/** Stack names: a Compose project name (lowercase letters, digits, `-`, `_`; starting with a letter or digit). */
export const stackNamePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** `desiredStateVersion` in welcome and status frames: SHA-256 of the document, 64 hex digits. */
export const desiredStateVersionPattern = /^[0-9a-f]{64}$/;

const id = z.number().int().positive();

/** Credentials for one registry a stack pulls from; sent only to devices that run that stack. */
export const registryCredentialSchema = z.object({
  /** Host[:port] as in an image reference (`registry.example.com:5000`). */
  serverAddress: z.string().min(1).max(255),
  username: z.string().max(255),
  password: z.string().max(4096),
});
export type RegistryCredential = z.infer<typeof registryCredentialSchema>;

/** One stack a device must run, at one version. */
export const desiredStackSchema = z.object({
  id,
  name: z.string().regex(stackNamePattern),
  /** Grows by one with each update of the stack; the agent rolls back to the last one that ran. */
  version: id,
  /** 0: Docker Compose (standalone engine, or Swarm services when the agent speaks for a swarm). */
  deploymentType: z.literal(0),
  composeFile: z.string().min(1).max(fleetLimits.composeFileBytes),
  envVars: z.array(z.object({ name: z.string().min(1).max(fleetLimits.envVarName), value: z.string().max(fleetLimits.envVarValue) })).max(fleetLimits.envVars),
  registries: z.array(registryCredentialSchema).max(fleetLimits.registriesPerStack),
});
export type DesiredStack = z.infer<typeof desiredStackSchema>;

/** One job a device must run on schedule. */
export const desiredJobSchema = z.object({
  id,
  name: z.string().min(1).max(128),
  version: id,
  /** Five-field cron expression (minute hour day-of-month month day-of-week), in UTC. */
  cronExpression: z.string().min(1).max(128),
  /** false: run once, at the next time the expression matches. */
  recurring: z.boolean(),
  script: z.string().min(1).max(fleetLimits.jobScriptBytes),
  /** The operator asked for this device's output: the agent uploads its last one (`edgePaths.jobLogs`). */
  collectLogs: z.boolean(),
});
export type DesiredJob = z.infer<typeof desiredJobSchema>;

/** A new agent image to run (docs/fleet.md "Agent updates"). */
export const desiredAgentUpdateSchema = z.object({
  id,
  image: z.string().min(1).max(512),
  /** Seconds the new agent has to check in before the helper puts the old image back. */
  deadlineSeconds: z.number().int().min(30).max(3600),
});
export type DesiredAgentUpdate = z.infer<typeof desiredAgentUpdateSchema>;

/** `GET /api/edge/v1/desired-state`: everything this device must run. */
export const desiredStateSchema = z.object({
  /** SHA-256 of the rest of the document; the welcome and status frames carry it as `desiredStateVersion`. */
  version: z.string().regex(desiredStateVersionPattern),
  stacks: z.array(desiredStackSchema).max(fleetLimits.stacksPerDevice),
  jobs: z.array(desiredJobSchema).max(fleetLimits.jobsPerDevice),
  agentUpdate: desiredAgentUpdateSchema.optional(),
});
export type DesiredState = z.infer<typeof desiredStateSchema>;

/** A stack's status transition on one device. */
export const stackReportSchema = z.object({
  stackId: id,
  /** The version the transition is about (for a rollback: the version that failed). */
  version: id,
  type: z.number().int().min(0).max(14),
  /** Unix seconds, as Portainer's `Time`. */
  time: z.number().int().nonnegative(),
  error: z.string().max(fleetLimits.errorMessage).optional(),
  /** With `rolledBack`: the version running again. */
  rolledBackTo: id.optional(),
});
export type StackReport = z.infer<typeof stackReportSchema>;

/** One run of a job on one device. */
export const jobRunReportSchema = z.object({
  jobId: id,
  version: id,
  /** Milliseconds since the epoch. */
  startedAt: z.number().int().nonnegative(),
  finishedAt: z.number().int().nonnegative(),
  /** The script's exit code; absent when it could not be started (`error` says why). */
  exitCode: z.number().int().optional(),
  error: z.string().max(fleetLimits.errorMessage).optional(),
});
export type JobRunReport = z.infer<typeof jobRunReportSchema>;

/** How an agent update ended on this device. */
export const agentUpdateReportSchema = z.object({
  id,
  status: z.enum(["updated", "rolled_back", "failed"]),
  /** The agent version running now. */
  agentVersion: z.string().min(1).max(64),
  error: z.string().max(fleetLimits.errorMessage).optional(),
});
export type AgentUpdateReport = z.infer<typeof agentUpdateReportSchema>;

/** `POST /api/edge/v1/report`: what happened since the last report (kept by the agent until acknowledged). */
export const fleetReportSchema = z
  .object({
    stacks: z.array(stackReportSchema).max(fleetLimits.reportEvents).default([]),
    jobs: z.array(jobRunReportSchema).max(fleetLimits.reportEvents).default([]),
    agentUpdate: agentUpdateReportSchema.optional(),
  })
  .refine((report) => report.stacks.length + report.jobs.length <= fleetLimits.reportEvents, { message: `at most ${fleetLimits.reportEvents} events in one report` });
export type FleetReport = z.infer<typeof fleetReportSchema>;

/** `POST /api/edge/v1/job-logs`: a job's last output on this device, when the operator asked for it. */
export const jobLogsUploadSchema = z.object({
  jobId: id,
  /** The end of the output, at most `fleetLimits.jobLogBytes` bytes. */
  content: z.string().max(fleetLimits.jobLogBytes),
});
export type JobLogsUpload = z.infer<typeof jobLogsUploadSchema>;
