/** The server's persistent state: the `Store` interface, its SQLite implementation, and in-memory heartbeats. */
export type * from "./store.ts";
export { defaultSettings } from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.ts";
export type { CertificateRevocation, DeviceCertificate, DeviceCertificateReason, DeviceCertificateStore } from "./device-certificates.ts";
export { type Migration, applyMigrations, latestSchemaVersion, migrations } from "./migrations.ts";
export { HeartbeatRegistry, type HeartbeatRegistryOptions } from "./heartbeat-registry.ts";
export type { PkiRotationStore, RotationDevice, RotationPhase, RotationRecord } from "./pki-rotation.ts";
export type { ClusterFile, ClusterStore, ReplicaRecord, SessionOwner } from "./cluster-store.ts";
export type { LoginRevocationStore, RevokedLogin } from "./login-revocations.ts";
