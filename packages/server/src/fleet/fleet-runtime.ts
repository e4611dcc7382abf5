import type { ClusterEvents } from "../cluster/cluster-events.ts";
import type { SecretBox } from "../cluster/secret-box.ts";
import type { EdgeService } from "../edge/edge-service.ts";
import type { Store } from "../store/store.ts";
import type { DesiredStateSources, FleetChanges, FleetReportSinks } from "./fleet-contracts.ts";
import { DesiredStateService } from "./desired-state.ts";
import { followDesiredStateChanges } from "./desired-state-push.ts";
import { RegistryService, registrySecretBox } from "./registries.ts";
import { EdgeGroupService } from "./edge-groups.ts";
import { EdgeJobService } from "./edge-jobs.ts";
import { EdgeStackService } from "./edge-stacks/edge-stack-service.ts";
import { RolloutEngine } from "./edge-stacks/rollout-engine.ts";
import { EdgeGroupRequests } from "./edge-group-requests.ts";
import { type Membership, membership } from "./membership.ts";
import { TagService } from "./tags.ts";
import { AgentUpdateService } from "./agent-updates.ts";

/**
 * The fleet services the API and the edge routes use (docs/fleet.md). Each fleet part adds its
 * service here and builds it in `createFleetServices`.
 */
export interface FleetServices {
  /** Recomputes, stores and announces the desired state of environments after a write. */
  readonly changes: FleetChanges;
  /** The desired-state service (fleet/desired-state.ts): what `changes` is, and the document devices fetch. */
  readonly desiredState: DesiredStateService;
  /** What each part asks of an environment: a part sets its member once built (`sources.stacks = …`). */
  readonly sources: DesiredStateSources;
  /** Where device reports go (fleet/report-intake.ts dispatches): a part sets its member once built. */
  readonly reports: FleetReportSinks;
  /** Registries stacks pull from; `credentialsFor` gives a stack's credentials, unsealed (fleet/registries.ts). */
  readonly registries: RegistryService;
  /** Tags and the tags environments carry (fleet/tags.ts). */
  readonly tags: TagService;
  /** Edge groups (fleet/edge-groups.ts); stacks and jobs `registerUsers` so a group they use is not deleted. */
  readonly edgeGroups: EdgeGroupService;
  /** Who is in which edge group (fleet/membership.ts): what stacks, jobs and registries deploy to. */
  readonly membership: Membership;
  /** `EDGE_GROUPS`: kept while a device waits, applied on association (fleet/edge-group-requests.ts). */
  readonly edgeGroupRequests: EdgeGroupRequests;
  /** Edge jobs: scripts run on schedule on devices (fleet/edge-jobs.ts). */
  readonly edgeJobs: EdgeJobService;
  /** Edge stacks: compose files deployed to edge groups (fleet/edge-stacks/edge-stack-service.ts). */
  readonly edgeStacks: EdgeStackService;
  /** Staged rollouts of stack updates (fleet/edge-stacks/rollout-engine.ts); the server starts and stops its ticks. */
  readonly rollouts: RolloutEngine;
  /** Agent update schedules (fleet/agent-updates.ts). */
  readonly agentUpdates: AgentUpdateService;
}

/** What the fleet services are built from. */
export interface FleetRuntimeOptions {
  readonly store: Store;
  readonly events: Pick<ClusterEvents, "publish" | "subscribe" | "onResync">;
  readonly edge: EdgeService;
  /** The server's data directory (single server: where sealed secrets' key lives). */
  readonly dataDir: string;
  /** Replicas: the cluster's secret box (`--secret-file`), which seals registry passwords; absent: DATA/secrets/registry.key. */
  readonly secretBox?: SecretBox;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  /** Told of each stack state a device reported and that was stored (metrics: deployments ended). */
  readonly onStackReported?: (statusType: number) => void;
}

/** The sink of a part not built yet: the report is acknowledged and dropped. */
const dropped = (): Promise<void> => Promise.resolve();

/**
 * Builds the fleet services for one server (or replica).
 *
 * @example
 * const fleet = createFleetServices({ store, events, edge, dataDir, log });
 * await fleet.changes.changed([environmentId]);
 */
export function createFleetServices(options: FleetRuntimeOptions): FleetServices {
  // Each part puts its own source and sinks here once built (`sources.stacks = …`); until then
  // it contributes nothing and its reports are acknowledged and dropped.
  const sources: DesiredStateSources = { stacks: () => Promise.resolve([]), jobs: () => Promise.resolve([]), agentUpdate: () => Promise.resolve(undefined) };
  const reports: FleetReportSinks = { stackStatus: dropped, jobRun: dropped, jobLogs: dropped, agentUpdate: dropped };
  const desiredState = new DesiredStateService({ store: options.store, events: options.events, sources: () => sources, log: options.log });
  const changes: FleetChanges = desiredState;
  const tags = new TagService({ store: options.store, changes });
  const edgeGroups = new EdgeGroupService({ store: options.store, tags, changes });
  const edgeGroupRequests = new EdgeGroupRequests({ store: options.store, changes });
  options.edge.onHello((environment, hello, enrolled) => edgeGroupRequests.heard(environment, hello.edgeGroups ?? [], enrolled));
  followDesiredStateChanges({ events: options.events, edge: options.edge, log: options.log });
  const registries = new RegistryService({ store: options.store.registries, box: registrySecretBox({ ...(options.secretBox ? { clusterBox: options.secretBox } : {}), dataDir: options.dataDir }), changes, membersOf: (groupIds) => options.store.edgeGroups.membersOf(groupIds), log: options.log });
  const edgeJobs = new EdgeJobService({ store: options.store, membership: membership(options.store.edgeGroups), changes, log: options.log });
  sources.jobs = (environmentId, groupIds) => edgeJobs.desiredJobs(environmentId, groupIds);
  reports.jobRun = (environmentId, run) => edgeJobs.recordRun(environmentId, run);
  reports.jobLogs = (environmentId, upload) => edgeJobs.storeLogs(environmentId, upload);
  edgeGroups.registerUsers("job", (groupIds) => edgeJobs.namesByGroup(groupIds));
  const edgeStacks = new EdgeStackService({ store: options.store, membership: membership(options.store.edgeGroups), changes, credentialsFor: (ids) => registries.credentialsFor(ids), log: options.log });
  sources.stacks = (environmentId, groupIds) => edgeStacks.desiredStacks(environmentId, groupIds);
  reports.stackStatus = async (environmentId, report) => {
    if (await edgeStacks.recordStatus(environmentId, report)) options.onStackReported?.(report.type);
  };
  edgeGroups.registerUsers("stack", (groupIds) => edgeStacks.namesByGroup(groupIds));
  const rollouts = new RolloutEngine({ store: options.store, membership: membership(options.store.edgeGroups), changes, log: options.log });
  const agentUpdates = new AgentUpdateService({ store: options.store.agentUpdates, membership: membership(options.store.edgeGroups), changes, log: options.log });
  sources.agentUpdate = (environmentId, groupIds) => agentUpdates.desiredUpdate(environmentId, groupIds);
  reports.agentUpdate = (environmentId, report) => agentUpdates.record(environmentId, report);
  return { changes, desiredState, sources, reports, registries, tags, edgeGroups, membership: membership(options.store.edgeGroups), edgeGroupRequests, edgeJobs, edgeStacks, rollouts, agentUpdates };
}
