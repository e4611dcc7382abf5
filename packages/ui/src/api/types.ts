/**
 * The server's JSON shapes the UI reads (packages/server/src/api/views.ts, Portainer's names).
 * Written by hand: the UI must not pull zod or server code into the bundle.
 */

/** A device's Docker snapshot summary, as `Snapshots[0]` of an environment. */
export interface SnapshotSummary {
  Time: number;
  DockerVersion: string;
  RunningContainerCount: number;
  StoppedContainerCount: number;
  /** Absent from servers before issue 18. */
  HealthyContainerCount?: number;
  UnhealthyContainerCount?: number;
  ImageCount: number;
  VolumeCount: number;
  TotalCPU: number;
  TotalMemory: number;
}

/** The client certificate a device last presented. */
export interface ClientCertificate {
  Subject: string;
  Issuer: string;
  SerialNumber: string;
  FingerprintSHA256: string;
  NotAfter: string;
  /** How many environments present this same certificate (more than 1: a shared operator certificate). */
  SharedBy?: number;
}

/** `GET /api/endpoints` entries. */
export interface Endpoint {
  Id: number;
  Name: string;
  EdgeID: string;
  /** Only in the answer that made the environment's own key (create, or "Make a new key"): the server keeps a hash of its secret. */
  EdgeKey?: string;
  UserTrusted: boolean;
  /** Unix seconds; 0 when never seen. */
  LastCheckInDate: number;
  EdgeCheckinInterval: number;
  Heartbeat: boolean;
  Agent: { Version: string };
  /** Its tags (docs/fleet.md); absent from servers before issue 19. */
  TagIds?: number[];
  Snapshots: SnapshotSummary[];
  Pier: {
    Connected: boolean;
    Platform: string;
    Hostname: string;
    OS: string;
    Arch: string;
    SourceAddress: string;
    CreatedAt: string;
    ClientCertificate: ClientCertificate | null;
    IdentityConflict: { At: string; SourceAddress: string; CertificateSubject?: string } | null;
    /** Set when the identity was used from several addresses at once (a cloned device). */
    Clone: { Addresses: string[]; FirstSeen: string; LastSeen: string } | null;
    /** The device's identity (docs/identity.md); absent from servers before issue 17. */
    Identity?: DeviceIdentityView;
    /** Edge groups the device asked for at enrollment (`EDGE_GROUPS`, docs/fleet.md). */
    RequestedEdgeGroups?: string[];
    /** Only in the answer of `PUT /api/endpoints/{id} {UserTrusted: true}` that associated the device: requested names not applied. */
    EdgeGroupsNotApplied?: { Name: string; Reason: "unknown" | "dynamic" }[];
    /** Whether its Docker Engine answers its agent (docs/protocol.md "Frames"); absent from servers before issue 21. */
    DockerStatus?: "up" | "down" | "unknown";
    /** Why Docker does not answer, while `DockerStatus` is down. */
    DockerError?: string | null;
    /** How far the device's clock is from the server's (docs/identity.md "Clock skew"); absent from servers before issue 22. */
    ClockSkew?: { Seconds: number; MeasuredAt: string } | null;
  };
}

/** Which flow a device's identity follows (docs/identity.md, "Three flows"). */
export type IdentityFlow = "built-in" | "operator" | "token";

/** `Pier.Identity` of an environment. */
export interface DeviceIdentityView {
  Flow: IdentityFlow;
  /** SPKI SHA-256 (hex) of the key in the CSR the device enrolled with, while it waits. */
  EnrollmentKeyFingerprint: string | null;
  /** The device came back with an expired certificate. */
  Reenrollment: { PreviousSerial: string; SameKey: boolean; At: string } | null;
  /** Its newest certificate from the built-in CA. */
  Certificate: { Serial: string; NotAfter: string; Status: string } | null;
}

/** `GET /api/endpoints/{id}/events` entries, newest first. */
export interface AuditEventView {
  Id: number;
  At: string;
  Kind: string;
  EdgeID: string;
  SourceAddress: string;
  Detail: Record<string, unknown>;
}

/** What the inventory says of a certificate. */
export type DeviceCertificateStatus = "active" | "expiring" | "expired" | "revoked" | "superseded" | "shared";

/** One row of `GET /api/pki/device-certificates`. */
export interface DeviceCertificateItem {
  Serial: string;
  EnvironmentId: number;
  EnvironmentName: string;
  EdgeID: string;
  Subject: string;
  Issuer: string;
  NotBefore: string | null;
  NotAfter: string;
  /** `null` for an operator's certificate (Pier did not issue it). */
  IssuedAt: string | null;
  /** enrollment, renewal, reissue, rotation; `operator` for an operator's certificate. */
  Reason: string;
  Status: DeviceCertificateStatus;
  /** `built-in`: issued by Pier; `operator`: presented by devices, issued elsewhere. */
  Source: "built-in" | "operator";
  /** Environments presenting this certificate (1 for Pier's). */
  SharedBy: number;
}

/** How many certificates in use expire within each window (docs/ui.md). */
export interface ExpiryCounts {
  Expired: number;
  Hour: number;
  Day: number;
  Week: number;
  Month: number;
  Later: number;
}

/** `GET /api/pki/device-certificates`. */
export interface DeviceCertificatePage {
  Items: DeviceCertificateItem[];
  Total: number;
  /** Over every certificate in use (not revoked, not superseded), whatever the filters. */
  Expiry: ExpiryCounts;
}

/** A CA of a rotation. */
export interface RotationCa {
  Subject: string;
  Fingerprint: string;
  NotAfter: string;
}

/** `GET /api/pki/rotation` (docs/identity.md, "CA rotation"). */
export interface RotationState {
  Phase: "standby" | "rotating" | "rolling_back" | (string & {});
  StartedAt: string | null;
  WindowSeconds: number | null;
  FromCa: RotationCa;
  ToCa: RotationCa | null;
  DevicesTotal: number;
  DevicesMoved: number;
  DevicesOnline: number;
  Stragglers: { Id: number; Name: string; EdgeID: string; Online: boolean; LastCheckIn: string | null; Serial: string }[];
}

/** `POST /api/settings/edge/mtls/impact`: what applying an mTLS set would change. */
export interface MtlsImpact {
  /** The DNS and IP names of the certificate to apply. */
  Names: string[];
  /** Whether the host the browser uses would need a client certificate afterwards. */
  CoversHost: boolean;
  /** Addresses of the UI that keep working without a client certificate. */
  KeepsWorking: string[];
  /** Agents connected now. */
  ConnectedAgents: number;
  /** Of those, the ones the change disconnects (no client certificate of the new CA). */
  Disconnected: number;
}

/** `GET/PUT /api/settings`. */
export interface Settings {
  EnableEdgeComputeFeatures: boolean;
  EdgeAgentCheckinInterval: number;
  TrustOnFirstConnect: boolean;
  /** A device certificate that expired less than this many seconds ago is re-issued without the Waiting Room; 0 = off. */
  AutoReissueWithinSeconds: number;
  EdgePortainerUrl: string;
  Edge: { TunnelServerAddress: string };
}

/** The facts of one certificate (ISO dates). */
export interface CertSummary {
  Subject: string;
  Issuer: string;
  SerialNumber: string;
  FingerprintSHA256: string;
  NotBefore: string;
  NotAfter: string;
}

/** Where the separate mTLS certificate comes from. */
export type MtlsSource = "none" | "flags" | "uploaded";

/** `GET/PUT /api/settings/edge/mtls`. */
export interface MtlsState {
  Source: MtlsSource;
  CaCert: CertSummary | null;
  Cert: (CertSummary & { Names: string[] }) | null;
  /** The CA's CRLs enforced in the handshake (`--mtlscrl` or the uploaded one), one per CRL. */
  Crl?: { Issuer: string; CrlNumber: number | null; ThisUpdate: string; NextUpdate: string | null; Entries: number }[] | null;
}

/** The fields of an mTLS upload a refusal can point at. */
export type MtlsField = "CaCert" | "Cert" | "Key" | "Crl";

/** `GET /api/certificates`. */
export interface Certificates {
  CA: CertSummary | null;
  Issued: (CertSummary & { Profile: string; Revoked: boolean })[];
  Server: CertSummary;
  Mtls: CertSummary | null;
  Clients: (Omit<CertSummary, "NotBefore"> & { NotBefore: string | null; EnvironmentId: number; EnvironmentName: string })[];
}

/** `GET /api/endpoints/{id}/docker-snapshot`. */
export interface DockerSnapshotReport {
  Time: number;
  Snapshot: {
    collectedAt: string;
    engine: { version: string; apiVersion: string; os: string; arch: string; kernelVersion: string };
    host: { name: string; cpus: number; memoryBytes: number };
    containers: { id: string; names: string[]; image: string; state: string; status: string; created: number }[];
    images: { id: string; tags: string[]; sizeBytes: number; created: number }[];
    volumes: { name: string; driver: string }[];
    networks: { id: string; name: string; driver: string }[];
  };
}

/** Docker Engine API `GET /containers/json` entries (the fields the UI shows). */
export interface DockerContainer {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Created: number;
}

/** Docker Engine API `GET /images/json` entries. */
export interface DockerImage {
  Id: string;
  RepoTags: string[] | null;
  Size: number;
  Created: number;
}

/** Docker Engine API `GET /volumes` entries. */
export interface DockerVolume {
  Name: string;
  Driver: string;
  Mountpoint: string;
}

/** Docker Engine API `GET /networks` entries. */
export interface DockerNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
}

/** `GET /api/pier/alerts` entries (docs/identity.md, "Alerts"). */
export interface AlertView {
  Id: string;
  Kind: string;
  At: string;
  LastAt: string;
  Count: number;
  Active: boolean;
  EnvironmentId: number | null;
  EdgeId: string | null;
  Message: string;
  Detail: Record<string, unknown>;
}
