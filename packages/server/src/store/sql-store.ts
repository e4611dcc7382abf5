import { SqlApiTokens } from "./api-tokens.ts";
import { SqlAuditLog } from "./audit.ts";
import { type ClusterStore, SqlClusterStore } from "./cluster-store.ts";
import { type EdgeStackStore, SqlEdgeStacks } from "./edge-stacks.ts";
import { type EdgeStackRolloutStore, SqlEdgeStackRollouts } from "./edge-stack-rollouts.ts";
import type { Dialect, SqlDatabase } from "./database.ts";
import { SqlDesiredStateVersions } from "./desired-state-versions.ts";
import { type DeviceCertificateStore, SqlDeviceCertificates } from "./device-certificates.ts";
import { type EdgeJobStore, SqlEdgeJobs } from "./edge-jobs.ts";
import { SqlEnvironments } from "./environments.ts";
import { type EdgeGroupStore, SqlEdgeGroups } from "./edge-groups.ts";
import { type TagStore, SqlTags } from "./tags.ts";
import { type LoginRevocationStore, SqlLoginRevocations } from "./login-revocations.ts";
import { type PkiRotationStore, SqlPkiRotation } from "./pki-rotation.ts";
import { type RegistryStore, SqlRegistries } from "./registries.ts";
import { type AgentUpdateStore, SqlAgentUpdates } from "./agent-updates.ts";
import { SqlSettings } from "./settings.ts";
import { SqlSnapshots } from "./snapshots.ts";
import type { Store } from "./store.ts";
import { SqlUsers } from "./users.ts";
import { type TeamStore, SqlTeams } from "./teams.ts";

/**
 * The `Store` on kysely, one class for SQLite and PostgreSQL: every sub-store is built from the
 * same `SqlDatabase` (`new SqlEnvironments(database)`…). Open one with `openStore`.
 *
 * @example
 * await using store = await openStore({ url: "postgres://pier:…@db:5432/pier" });
 * const waiting = await store.environments.list({ untrusted: true });
 */
export class SqlStore implements Store, AsyncDisposable {
  readonly dialect: Dialect;
  readonly environments: SqlEnvironments;
  readonly users: SqlUsers;
  readonly apiTokens: SqlApiTokens;
  readonly settings: SqlSettings;
  readonly audit: SqlAuditLog;
  readonly snapshots: SqlSnapshots;
  readonly certificates: DeviceCertificateStore;
  readonly rotation: PkiRotationStore;
  readonly cluster: ClusterStore;
  readonly logins: LoginRevocationStore;
  readonly tags: TagStore;
  readonly edgeGroups: EdgeGroupStore;
  readonly desiredStateVersions: SqlDesiredStateVersions;
  readonly edgeStacks: EdgeStackStore;
  readonly edgeStackRollouts: EdgeStackRolloutStore;
  readonly registries: RegistryStore;
  readonly edgeJobs: EdgeJobStore;
  readonly agentUpdates: AgentUpdateStore;
  readonly teams: TeamStore;
  readonly #database: SqlDatabase;

  /** Takes an open, migrated database (`openStore` does both). */
  constructor(database: SqlDatabase) {
    this.#database = database;
    this.dialect = database.dialect;
    this.environments = new SqlEnvironments(database);
    this.users = new SqlUsers(database);
    this.apiTokens = new SqlApiTokens(database);
    this.settings = new SqlSettings(database);
    this.audit = new SqlAuditLog(database);
    this.snapshots = new SqlSnapshots(database);
    this.certificates = new SqlDeviceCertificates(database);
    this.rotation = new SqlPkiRotation(database);
    this.cluster = new SqlClusterStore(database);
    this.logins = new SqlLoginRevocations(database);
    this.tags = new SqlTags(database);
    this.edgeGroups = new SqlEdgeGroups(database);
    this.desiredStateVersions = new SqlDesiredStateVersions(database);
    this.edgeStacks = new SqlEdgeStacks(database);
    this.edgeStackRollouts = new SqlEdgeStackRollouts(database);
    this.registries = new SqlRegistries(database);
    this.edgeJobs = new SqlEdgeJobs(database);
    this.agentUpdates = new SqlAgentUpdates(database);
    this.teams = new SqlTeams(database);
  }

  /** Releases the database; further calls fail with `store_failed`. Calling it twice is harmless. */
  close(): Promise<void> {
    return this.#database.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
