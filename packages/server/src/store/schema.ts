/**
 * The kysely row types of Pier's tables, columns as stored in both engines: snake_case names,
 * times in integer milliseconds (`number`), flags as 0/1 (`number`), nested records as JSON
 * text (`string`), bytes as `Buffer`. The schema itself is in `migrations.ts`; other parts of
 * the store add their tables here.
 */

import type { Generated } from "kysely";
import type { DesiredStateColumns, FleetTables } from "./schema-fleet.ts";
import type { TeamTables } from "./schema-teams.ts";

/** `environments`: devices in the waiting room and associated ones. */
export interface EnvironmentsTable extends DesiredStateColumns {
  id: Generated<number>;
  name: string;
  type: string;
  edge_id: string | null;
  edge_key_environment: number;
  user_trusted: number;
  checkin_interval_seconds: number | null;
  created_at: number;
  last_check_in_at: number | null;
  /** JSON `AgentInfo`. */
  agent: string | null;
  source_address: string | null;
  /** JSON `ClientCertificateInfo`, dates in ms. */
  client_certificate: string | null;
  identity_kind: string | null;
  identity_value: string | null;
  /** JSON `IdentityConflict`, `at` in ms. */
  identity_conflict: string | null;
  /** JSON `IdentityClone`, dates in ms. */
  identity_clone: string | null;
  edge_key_secret_hash: string | null;
  /** DER. */
  enrollment_csr: Buffer | null;
  enrollment_key_sha256: string | null;
  /** JSON `Reenrollment`, `at` in ms. */
  reenrollment: string | null;
}

/** `users`: people who log in; `username` unique case-insensitively. */
export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: string;
  created_at: number;
  /** ms; session tokens issued before it are refused (migration 18). */
  sessions_valid_after: number | null;
}

/** `api_tokens`: access tokens by SHA-256. */
export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  description: string;
  token_hash: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  /** A role: the most the token may do (migration 18). */
  scope: Generated<string>;
  /** ms; NULL only before migration 18 filled it. */
  expires_at: number | null;
}

/** `settings`: one row (`id = 1`) holding the JSON settings document. */
export interface SettingsTable {
  id: number;
  document: string;
}

/** `audit_events`: the append-only trail (no foreign key: it outlives environments). */
export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  environment_id: number | null;
  edge_id: string | null;
  kind: string;
  source_address: string | null;
  /** JSON object. */
  detail: string;
  /** The user who acted; `null` for device and system events (migration 17). */
  actor: string | null;
  /** SHA-256 (hex) of the entry before, 64 zeros for the first (store/audit-chain.ts). */
  prev_hash: string | null;
  /** SHA-256 (hex) of `prev_hash` and this entry's canonical encoding. */
  hash: string | null;
}

/** `snapshots`: each environment's latest Docker snapshot (JSON). */
export interface SnapshotsTable {
  environment_id: number;
  collected_at: number;
  json: string;
  /** JSON `DockerSummary` (migration 9), written with the snapshot; `null` only for rows older than migration 9. */
  summary: string | null;
}

/** `device_certificates`: every certificate the built-in CA issued to a device. */
export interface DeviceCertificatesTable {
  serial: string;
  environment_id: number;
  edge_id: string;
  subject: string;
  issuer: string;
  ca_spki_sha256: string;
  spki_sha256: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  reason: string;
  revoked_at: number | null;
  revocation_reason: string | null;
  certificate_pem: string | null;
}

/** `pki_rotation`: the built-in CA's rotation (one row, `id = 1`). */
export interface PkiRotationTable {
  id: number;
  phase: string;
  from_ca: string;
  to_ca: string;
  started_at: number;
  updated_at: number;
  window_seconds: Generated<number>;
}

/** `crl_numbers`: the last CRL number each built-in device CA signed (migration 10). */
export interface CrlNumbersTable {
  ca_spki_sha256: string;
  last_number: number;
}

/** `schema_migrations`: the applied schema versions. */
export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

/** `replicas`: the `pier server` processes sharing the database (migration 8). */
export interface ReplicasTable {
  id: string;
  name: string;
  peer_address: string;
  started_at: number;
  seen_at: number;
}

/** `edge_sessions`: which replica holds each device's session (removed with the environment). */
export interface EdgeSessionsTable {
  environment_id: number;
  replica_id: string;
  opened_at: number;
}

/** `cluster_files`: files every replica needs (CA, keys, JWT secret), opaque bytes (encrypted by the caller). */
export interface ClusterFilesTable {
  name: string;
  content: Buffer;
  updated_at: number;
}

/** `revoked_logins`: the logout deny-list, by token `jti`, until the token expires. */
export interface RevokedLoginsTable {
  jti: string;
  expires_at: number;
}

/** Every table, as kysely sees the database. */
/** Fleet tables (docs/fleet.md), one interface per concern in `schema-fleet.ts`. */
export interface Database extends FleetTables, TeamTables {
  environments: EnvironmentsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  snapshots: SnapshotsTable;
  device_certificates: DeviceCertificatesTable;
  pki_rotation: PkiRotationTable;
  crl_numbers: CrlNumbersTable;
  schema_migrations: SchemaMigrationsTable;
  replicas: ReplicasTable;
  edge_sessions: EdgeSessionsTable;
  cluster_files: ClusterFilesTable;
  revoked_logins: RevokedLoginsTable;
}
