/**
 * The server's persistent state, as records and one `Store` interface. `SqliteStore` implements it
 * today; a PostgreSQL store will implement the same interface later, which is why every method is
 * async even though SQLite answers synchronously.
 *
 * Times are `Date`s in records and milliseconds since the epoch in storage; no method returns a
 * string where a `Date` is meant.
 */

import type { DockerSnapshot, Role } from "@pier/protocol";
import type { Transaction } from "kysely";
import type { Dialect } from "./database.ts";
import type { Database } from "./schema.ts";
import type { DesiredStateVersionStore } from "./desired-state-versions.ts";
import type { ClusterStore } from "./cluster-store.ts";
import type { EdgeStackStore } from "./edge-stacks.ts";
import type { EdgeStackRolloutStore } from "./edge-stack-rollouts.ts";
import type { DeviceCertificateStore } from "./device-certificates.ts";
import type { EdgeJobStore } from "./edge-jobs.ts";
import type { LoginRevocationStore } from "./login-revocations.ts";
import type { EdgeGroupStore } from "./edge-groups.ts";
import type { TagStore } from "./tags.ts";
import type { PkiRotationStore } from "./pki-rotation.ts";
import type { RegistryStore } from "./registries.ts";
import type { AgentUpdateStore } from "./agent-updates.ts";
import type { TeamStore } from "./teams.ts";

/** The kinds of environment Pier manages; only edge agents for now. */
export type EnvironmentType = "edge-agent";

/** What the agent said about itself in its last hello. */
export interface AgentInfo {
  version: string;
  platform: string;
  hostname: string;
  os: string;
  arch: string;
}

/** The client certificate a device last presented (mTLS only). */
export interface ClientCertificateInfo {
  subject: string;
  serialNumber: string;
  fingerprintSha256: string;
  notAfter: Date;
  /** Absent for certificates recorded before Pier kept it. */
  notBefore?: Date;
  issuer: string;
}

/**
 * What a device is bound to at first contact (docs/protocol.md, "Identity"): the SHA-256 of its
 * client certificate's SubjectPublicKeyInfo, else the SHA-256 of the device token the server
 * handed out. Both are hex strings; the token itself is never stored.
 */
export interface DeviceIdentity {
  kind: "certificate" | "token";
  value: string;
}

/** The last time someone presented this device's `EDGE_ID` with another binding. */
export interface IdentityConflict {
  at: Date;
  /** The binding that was presented and refused (same encoding as `DeviceIdentity.value`). */
  presented: string;
  sourceAddress: string;
  certificateSubject?: string;
}

/**
 * One identity used from several places at once (docs/security.md, "Clones"): its live session
 * was replaced repeatedly by connections from other source addresses.
 */
export interface IdentityClone {
  /** The source addresses seen presenting the identity during the episode, oldest first. */
  addresses: string[];
  firstSeen: Date;
  lastSeen: Date;
}

/** A managed environment: an edge device, waiting or associated. */
export interface Environment {
  /** Positive, assigned by the store, never reused. */
  id: number;
  name: string;
  type: EnvironmentType;
  edgeId: string | null;
  /** Created by the operator with a key for this one environment (rather than the fleet-wide key). */
  edgeKeyEnvironment: boolean;
  /** `false` while the device sits in the waiting room. */
  userTrusted: boolean;
  /** `null` means "use the global `edgeAgentCheckinInterval` setting". */
  checkinIntervalSeconds: number | null;
  createdAt: Date;
  /** The stored value; `HeartbeatRegistry` holds fresher ones in memory. */
  lastCheckInAt: Date | null;
  agent: AgentInfo | null;
  sourceAddress: string | null;
  clientCertificate: ClientCertificateInfo | null;
  identity: DeviceIdentity | null;
  identityConflict: IdentityConflict | null;
  /** The latest clone episode of this device's identity; `null` when none was seen. */
  identityClone: IdentityClone | null;
  /**
   * Hex SHA-256 of the secret in this environment's own EDGE_KEY (its 5th field); the secret is
   * never stored. A hello claiming the environment must carry it. `null` once a device claimed
   * the environment, for fleet-enrolled devices, and for keys made before keys had a secret.
   */
  edgeKeySecretHash: string | null;
  /**
   * The CSR (DER) the device sent to enroll with the built-in CA, its signature checked; kept
   * until a certificate is issued for its key (docs/identity.md "States"), then `null`.
   */
  enrollmentCsr: Buffer | null;
  /** Hex SHA-256 of the SPKI of the key the device enrolled with (shown in the Waiting Room); kept after issuance. */
  enrollmentKeySha256: string | null;
  /** The device came back with an expired certificate of this CA (docs/identity.md "expired"). */
  reenrollment: Reenrollment | null;
  /** SHA-256 of its desired state (docs/fleet.md), sent in the welcome; absent until computed. Written by `desiredStateVersions` only. */
  desiredStateVersion?: string;
  /** Why its latest desired state could not be delivered (too large); absent when it was. */
  desiredStateError?: string;
}

/** A device that presented an expired certificate of the built-in CA and waits to be re-issued. */
export interface Reenrollment {
  /** Serial of the expired certificate it presented. */
  previousSerial: string;
  /**
   * Whether the device proved it holds that certificate's key: true when it came back over a
   * TLS handshake with the expired certificate (the handshake proves possession of the key).
   */
  sameKey: boolean;
  at: Date;
}

/** What `environments.create` needs: a name and a type; everything else has a default. */
export type NewEnvironment = Pick<Environment, "name" | "type"> & Partial<Omit<Environment, "id" | "name" | "type">>;

/** Fields `environments.update` may change; keys left out (or `undefined`) keep their value. */
export type EnvironmentPatch = Partial<Omit<Environment, "id" | "createdAt" | "desiredStateVersion" | "desiredStateError">>;

/** Roles: administrator, operator, helpdesk (`@pier/protocol`'s `roles`, docs/security.md "Users and roles"). */
export type UserRole = Role;

/** A person who logs in to the API or the UI. */
export interface User {
  id: number;
  /** Unique, compared case-insensitively (as Portainer does). */
  username: string;
  /** `scrypt$N$r$p$salt$hash`, see `auth/passwords.ts`. */
  passwordHash: string;
  role: UserRole;
  createdAt: Date;
  /** Session tokens issued before this are refused ("end all sessions"); `null`: none ended. */
  sessionsValidAfter: Date | null;
  /** Set by authentication when an access token's scope lowered `role`: the account's own role (which decides the environments it sees). */
  accountRole?: UserRole;
}

/** What `users.create` needs. */
export type NewUser = Pick<User, "username" | "passwordHash"> & Partial<Pick<User, "role" | "createdAt">>;

/** An access token for automation (`X-API-Key`); only its SHA-256 is stored. */
export interface ApiToken {
  id: number;
  userId: number;
  description: string;
  /** Hex SHA-256 of the whole token, see `auth/api-tokens.ts`. */
  tokenHash: string;
  /** The token's first characters, shown in lists so people can tell tokens apart. */
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** The most the token may do; it acts with the lesser of this and its owner's current role. */
  scope: UserRole;
  /** Refused from then on. */
  expiresAt: Date;
}

/** What `apiTokens.create` needs. */
export type NewApiToken = Pick<ApiToken, "userId" | "description" | "tokenHash" | "prefix" | "scope" | "expiresAt"> & Partial<Pick<ApiToken, "createdAt">>;

/**
 * Server-wide settings, kept as one JSON document.
 *
 * Stored in camelCase; the HTTP layer maps to and from Portainer's JSON names, so
 * scripts written against Portainer's `GET/PUT /api/settings` keep working:
 *
 * | here                       | Portainer JSON                |
 * |----------------------------|-------------------------------|
 * | `edgeComputeEnabled`       | `EnableEdgeComputeFeatures`   |
 * | `edgeAgentCheckinInterval` | `EdgeAgentCheckinInterval`    |
 * | `trustOnFirstConnect`      | `TrustOnFirstConnect`         |
 * | `edgePortainerUrl`         | `EdgePortainerUrl`            |
 * | `edgeTunnelServerAddress`  | `Edge.TunnelServerAddress`    |
 */
export interface Settings {
  edgeComputeEnabled: boolean;
  /** Seconds between agent check-ins unless an environment overrides it. */
  edgeAgentCheckinInterval: number;
  /** Associate devices on first contact instead of parking them in the waiting room. */
  trustOnFirstConnect: boolean;
  /** API URL written into edge keys and deployment commands; unset = derived from the request. */
  edgePortainerUrl?: string;
  /** `host:port` of the tunnel listener for edge keys; unset = derived from `edgePortainerUrl`. */
  edgeTunnelServerAddress?: string;
  /** The SPIFFE trust domain of device certificates' URI SAN (`spiffe://<it>/edge/<EDGE_ID>`); unset = `pier.local`. */
  trustDomain?: string;
  /** An operator certificate whose CN is an `EDGE_ID` names that device (docs/identity.md "Binding"). */
  bindCommonName?: boolean;
  /**
   * A device whose built-in-CA certificate expired less than this many seconds ago is re-issued
   * a certificate at its next hello, without the waiting room (docs/identity.md "expired");
   * unset or 0 = off. Portainer-style name `AutoReissueWithinSeconds`.
   */
  autoReissueWithinSeconds?: number;
  /** Alerts (docs/identity.md "Alerts") are POSTed here: an https:// URL of at most 2048 characters; unset = no webhook. `WebhookURL`. */
  webhookUrl?: string;
  /** HMAC-SHA256 key of `X-Pier-Signature`; set or generated by `POST /api/settings/webhook/secret`, never shown again. */
  webhookSecret?: string;
  /** Alert on a certificate expiring within this many days without a renewal in sight (1 to 397; unset = 7). `AlertExpiryDays`. */
  alertExpiryDays?: number;
}

/**
 * A partial update of `Settings`. `undefined` (or a missing key) keeps the current value; `null`
 * removes an optional field so its default applies again.
 */
export type SettingsPatch = {
  [K in keyof Settings]?: undefined extends Settings[K] ? Settings[K] | null : Settings[K];
};

/** The settings of a fresh installation. */
export const defaultSettings: Readonly<Settings> = Object.freeze({
  edgeComputeEnabled: true,
  edgeAgentCheckinInterval: 5,
  trustOnFirstConnect: false,
});

/** Audit kinds the server writes today; others may be added without a migration. */
export type AuditKind =
  | "enrolled"
  | "associated"
  | "refused_tls"
  | "identity_conflict"
  | "removed"
  | "login_failed"
  | "mtls_uploaded"
  | "mtls_removed"
  | "refused_edge_key"
  | "tag_created"
  | "tag_deleted"
  | "environment_tags_set"
  | "edge_group_created"
  | "edge_group_updated"
  | "edge_group_deleted"
  | "edge_groups_applied"
  | "edge_groups_not_applied"
  | "edge_stack_created"
  | "edge_stack_updated"
  | "edge_stack_deleted"
  // Keeps autocompletion for the names above while accepting new ones.
  | (string & {});

/** One entry of the audit trail; entries are never changed or deleted by the server. */
export interface AuditEvent {
  id: number;
  at: Date;
  environmentId: number | null;
  edgeId: string | null;
  kind: AuditKind;
  sourceAddress: string | null;
  /** The user who acted (an API caller's name, `pier` for the server's own decisions); `null` for device and system events. */
  actor: string | null;
  /** JSON-serialisable facts about the event (the refusal reason, the certificate subject…). */
  detail: Record<string, unknown>;
  /** The hash of the entry before this one (64 zeros for the first): docs/security.md "Activity log: hash chain". */
  prevHash: string;
  /** SHA-256 (hex) of `prevHash` and this entry's fields (store/audit-chain.ts). */
  hash: string;
}

/**
 * What `audit.append` needs; `at` defaults to now, nullable fields to `null`, `actor` to the user
 * `detail.by` or `detail.user` names.
 */
export type NewAuditEvent = Pick<AuditEvent, "kind"> & Partial<Omit<AuditEvent, "id" | "kind" | "prevHash" | "hash">>;

/**
 * A write transaction of the store, handed to a change that must commit together with its audit
 * entry (`AuditLog.append`'s `change`): both are stored, or neither.
 */
export type StoreTransaction = Transaction<Database>;

/** Filters of the activity log (`AuditLog.page`, `AuditLog.export`); all optional, combined with AND. */
export interface AuditQuery {
  environmentId?: number;
  edgeId?: string;
  /** The acting user's name, exactly. */
  actor?: string;
  kind?: string;
  /** Entries at or after this time. */
  since?: Date;
  /** Entries at or before this time. */
  until?: Date;
}

/** One check-in time to persist; see `HeartbeatRegistry`. */
export interface CheckIn {
  id: number;
  at: Date;
}

/** Environments: devices in the waiting room and associated ones. */
export interface EnvironmentStore {
  /** Inserts an environment; `conflict` if its `edgeId` is already taken. */
  create(input: NewEnvironment): Promise<Environment>;
  get(id: number): Promise<Environment | null>;
  /** Those of `ids` that exist, by id (one query per 1,000 ids: a caller holding thousands reads them at once). */
  getMany(ids: readonly number[]): Promise<Environment[]>;
  getByEdgeId(edgeId: string): Promise<Environment | null>;
  /** All environments by id; `untrusted: true` lists the waiting room, `false` the associated ones. */
  list(filter?: { untrusted?: boolean }): Promise<Environment[]>;
  /**
   * One page of a filtered, sorted list with each environment's Docker summary (never the full
   * snapshot) and the number of environments the filters match (`store/environment-page.ts`).
   * The caller validates the query's ranges.
   */
  page(query: EnvironmentPageQuery): Promise<EnvironmentPage>;
  /** How many environments present the client certificate with this SHA-256 fingerprint (one indexed query; 0 when none). */
  countSharingCertificate(fingerprintSha256: string): Promise<number>;
  /**
   * Applies `patch` and returns the result; `not_found` if there is no such environment. Inside
   * `transaction` (an audit entry's, `AuditLog.append`) it commits with that transaction.
   */
  update(id: number, patch: EnvironmentPatch, transaction?: StoreTransaction): Promise<Environment>;
  /**
   * Applies `patch` only while the environment's key secret hash is still `secretHash`, in one
   * step; `null` when it changed meanwhile (another device claimed it first, or a new key was
   * made), so two devices holding one key can never both claim the environment.
   */
  claim(id: number, secretHash: string, patch: EnvironmentPatch): Promise<Environment | null>;
  /**
   * Binds a first identity: applies `patch` with `identity` only while the environment has no
   * identity or already this one, in one step; `null` when another identity was bound meanwhile
   * (two devices presenting one `EDGE_ID` at once, possibly on two replicas). `not_found` if the
   * environment does not exist.
   */
  bindIdentity(id: number, identity: DeviceIdentity, patch: EnvironmentPatch): Promise<Environment | null>;
  /** Removes the environment; `false` if it did not exist. */
  delete(id: number): Promise<boolean>;
  /**
   * Persists many check-ins in one transaction. A check-in never moves `lastCheckInAt`
   * backwards, and ids that no longer exist (device removed meanwhile) are skipped.
   */
  recordCheckIns(batch: readonly CheckIn[]): Promise<void>;
}

/** People who log in. */
export interface UserStore {
  /** Inserts a user; `conflict` if the name is taken (case-insensitively). */
  create(input: NewUser): Promise<User>;
  /**
   * Inserts the first user, atomically only while there is none: check and insert are one
   * statement, so two concurrent calls never create two administrators. `null` if a user exists.
   */
  createFirst(input: NewUser): Promise<User | null>;
  /** Replaces a user's password hash (a re-hash with today's parameters); `false` if there is no such user. */
  setPasswordHash(id: number, passwordHash: string): Promise<boolean>;
  get(id: number): Promise<User | null>;
  getByUsername(username: string): Promise<User | null>;
  count(): Promise<number>;
  /** Every user, by id. */
  list(): Promise<User[]>;
  /**
   * Changes a user's role; `conflict` if that would leave no administrator (checked and written
   * in one transaction), `null` if there is no such user.
   */
  setRole(id: number, role: UserRole): Promise<User | null>;
  /** Refuses the user's session tokens issued before `at` (ended sessions); `false` if there is no such user. */
  endSessions(id: number, at: Date): Promise<boolean>;
  /** Removes the user and their access tokens; `conflict` for the last administrator, `false` if there is no such user. */
  delete(id: number): Promise<boolean>;
}

/** Access tokens for automation. */
export interface ApiTokenStore {
  create(input: NewApiToken): Promise<ApiToken>;
  findByHash(tokenHash: string): Promise<ApiToken | null>;
  /** Records a use of the token. */
  touch(id: number, at: Date): Promise<void>;
  /** Tokens by id, all of them or one user's. */
  list(filter?: { userId?: number }): Promise<ApiToken[]>;
  /** Removes the token; `false` if it did not exist. */
  delete(id: number): Promise<boolean>;
}

/** The settings document. */
export interface SettingsStore {
  /** The current settings, defaults filled in. */
  get(): Promise<Settings>;
  /** Applies `patch` and returns the result; `bad_request` if a value is out of range. */
  update(patch: SettingsPatch): Promise<Settings>;
}

/** The append-only audit trail. */
export interface AuditLog {
  /**
   * Appends `event` to the chain. With `change`, runs it in the same transaction as the entry:
   * the change and the entry that records it commit together or not at all (a crash or a failed
   * append between two transactions left changes nobody could see in the log; chaos suite,
   * server-crash). `event` as a function is called after `change`, to name what it made.
   */
  append(event: NewAuditEvent | (() => NewAuditEvent), change?: (transaction: StoreTransaction) => Promise<unknown>): Promise<AuditEvent>;
  /** Newest first; `limit` defaults to 100 and is capped at 1000. */
  list(filter?: { environmentId?: number; limit?: number }): Promise<AuditEvent[]>;
  /** One page of the entries `query` matches, newest first (by time, then id), and how many match. */
  page(query: AuditQuery & { start?: number; limit?: number }): Promise<{ items: AuditEvent[]; total: number }>;
  /** The entries `query` matches in chain order (oldest first), a batch at a time, read as they are consumed. */
  export(query: AuditQuery): AsyncIterable<AuditEvent[]>;
  /** The kinds recorded so far, sorted (the Activity screen's kind filter). */
  kinds(): Promise<string[]>;
}

/** A device's latest Docker snapshot and when the server received it. */
export interface StoredSnapshot {
  at: Date;
  snapshot: DockerSnapshot;
}

/**
 * The few facts of a Docker snapshot a list shows, kept beside the snapshot (computed by
 * `docker/docker-summary.ts`) so lists never read full snapshots.
 */
export interface DockerSummary {
  dockerVersion: string;
  runningContainers: number;
  /** Exited, created or dead (not paused or restarting). */
  stoppedContainers: number;
  /** Containers whose health check passes / fails. */
  healthyContainers: number;
  unhealthyContainers: number;
  images: number;
  volumes: number;
  cpus: number;
  memoryBytes: number;
}

/** An environment's Docker summary and when the server received the snapshot it summarises. */
export interface StoredDockerSummary {
  at: Date;
  summary: DockerSummary;
}

/** What `environments.page` sorts by; ties are broken by id, so pages never overlap. */
export type EnvironmentSortField = "id" | "name" | "edgeId" | "lastCheckIn" | "createdAt";

/** Filters, order and window of `environments.page`; every filter given must hold. */
export interface EnvironmentPageQuery {
  /** `true`: untrusted environments only (Portainer's `edgeDeviceUntrusted`), `false`: trusted only. */
  untrusted?: boolean;
  /**
   * `true`: the Waiting Room (untrusted devices that checked in: with an `EDGE_ID`); `false`:
   * everything else (the Home list, which includes environments no device has used yet).
   */
  waiting?: boolean;
  /** Case-insensitive substring of the name, `EDGE_ID` or source address; `%`, `_` and `\` match themselves. */
  search?: string;
  /** Environments carrying every one of these tags (`store/tags.ts`); empty or absent: no filter. */
  tagIds?: readonly number[];
  /** Members of this edge group (associated environments only, `store/edge-groups.ts`). */
  edgeGroupId?: number;
  /**
   * The caller's scope (auth/environment-scope.ts): only environments that are, or once associated
   * would be, members of one of these edge groups (none when empty); absent: no limit.
   */
  scopeEdgeGroupIds?: readonly number[];
  /**
   * Keeps environments whose stored check-in is (`alive: true`) or is not within the heartbeat
   * rule (2 × interval + 20 s, `isHeartbeatAlive`) at `now`; the interval is the environment's
   * own or `defaultIntervalSeconds`.
   */
  heartbeat?: { alive: boolean; now: Date; defaultIntervalSeconds: number };
  /** Default `id`; names sort case-insensitively, a never-seen check-in as 0, a missing `EDGE_ID` as "". */
  sort?: EnvironmentSortField;
  /** Default `asc`. */
  order?: "asc" | "desc";
  /** Rows to skip (default 0). */
  start?: number;
  /** Rows to return; absent: all from `start`. */
  limit?: number;
}

/** The facts of a device certificate that an environment's list entry shows. */
export interface CertificateStatusFacts {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  revokedAt: Date | null;
}

/** An environment as lists show it: the environment and a few facts read with it in the same queries. */
export interface EnvironmentSummary extends Environment {
  /** `null` until the agent reports a snapshot. */
  docker: StoredDockerSummary | null;
  /** The newest certificate the built-in CA issued to it (by issue time), `null` when none. */
  newestCertificate: CertificateStatusFacts | null;
  /** How many environments (itself included) last presented the same client certificate; 0 when it presented none. */
  clientCertificateSharedBy: number;
}

/** A page of environments and how many match the query's filters in all. */
export interface EnvironmentPage {
  items: EnvironmentSummary[];
  total: number;
}

/** The latest Docker snapshot of each environment (docs/protocol.md, "Docker snapshot and tunnel"). */
export interface SnapshotStore {
  /** Replaces the environment's snapshot and its summary; `not_found` if there is no such environment. */
  put(environmentId: number, snapshot: DockerSnapshot, at: Date, summary: DockerSummary): Promise<void>;
  /** The latest snapshot, or `null` when the device has not reported one. */
  get(environmentId: number): Promise<StoredSnapshot | null>;
}

/**
 * Everything the server persists. Implementations report failures as `ServerError`
 * (`conflict`, `not_found`, `bad_request`, `store_failed`).
 *
 * @example
 * const store: Store = await SqliteStore.open(join(dataDir, "pier.db"));
 * const waiting = await store.environments.list({ untrusted: true });
 * await store.close();
 */
export interface Store {
  /** The SQL engine underneath (`sqlite` for `--data`, `postgres` with `--database-url`). */
  readonly dialect: Dialect;
  readonly environments: EnvironmentStore;
  readonly users: UserStore;
  readonly apiTokens: ApiTokenStore;
  readonly settings: SettingsStore;
  readonly audit: AuditLog;
  /** Removed with their environment. */
  readonly snapshots: SnapshotStore;
  /** Device certificates issued by the built-in CA (`store/device-certificates.ts`). */
  readonly certificates: DeviceCertificateStore;
  /** The built-in CA's rotation (`store/pki-rotation.ts`). */
  readonly rotation: PkiRotationStore;
  /** Replicas, who holds each device's session, shared files and cluster-wide locks (`store/cluster-store.ts`). */
  readonly cluster: ClusterStore;
  /** The persisted logout deny-list (`store/login-revocations.ts`). */
  readonly logins: LoginRevocationStore;
  /** Tags and the tags environments carry (`store/tags.ts`). */
  readonly tags: TagStore;
  /** Edge groups, their membership, and the groups waiting devices asked for (`store/edge-groups.ts`). */
  readonly edgeGroups: EdgeGroupStore;
  /** Each environment's desired-state version (`store/desired-state-versions.ts`). */
  readonly desiredStateVersions: DesiredStateVersionStore;
  /** Registries stacks pull from, passwords sealed (`store/registries.ts`). */
  readonly registries: RegistryStore;
  /** Edge jobs, their targets and per-device tasks (`store/edge-jobs.ts`). */
  readonly edgeJobs: EdgeJobStore;
  /** Edge stacks, their versions, groups and per-device status (`store/edge-stacks.ts`). */
  readonly edgeStacks: EdgeStackStore;
  /** Staged rollouts of stack versions (`store/edge-stack-rollouts.ts`, fleet/edge-stacks/rollout-engine.ts). */
  readonly edgeStackRollouts: EdgeStackRolloutStore;
  /** Agent update schedules and per-device progress (`store/agent-updates.ts`). */
  readonly agentUpdates: AgentUpdateStore;
  /** Teams: members and the edge groups they see (`store/teams.ts`, docs/security.md "Teams and scope"). */
  readonly teams: TeamStore;
  /** Releases the database; further calls fail with `store_failed`. Calling it twice is harmless. */
  close(): Promise<void>;
}
