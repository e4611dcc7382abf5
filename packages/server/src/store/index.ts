/** The server's persistent state: the `Store` interface, its implementation on kysely (SQLite or PostgreSQL), and in-memory heartbeats. */
export type * from "./store.ts";
export { defaultSettings } from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.ts";
export { openStore } from "./open-store.ts";
export { SqlStore } from "./sql-store.ts";
export type { Dialect, OpenDatabaseOptions, StoreTarget } from "./database.ts";
export type { CertificateRevocation, DeviceCertificate, DeviceCertificateReason, DeviceCertificateStore } from "./device-certificates.ts";
export { type Migration, applyMigrations, latestSchemaVersion, migrations, postgresMigrations } from "./migrations.ts";
export { HeartbeatRegistry, type HeartbeatRegistryOptions } from "./heartbeat-registry.ts";
export type { PkiRotationStore, RotationDevice, RotationPhase, RotationRecord } from "./pki-rotation.ts";
export type { ClusterFile, ClusterStore, ReplicaRecord, SessionOwner } from "./cluster-store.ts";
export type { LoginRevocationStore, RevokedLogin } from "./login-revocations.ts";
export type { Team, TeamInput, TeamStore } from "./teams.ts";
