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
  };
}

/** `GET/PUT /api/settings`. */
export interface Settings {
  EnableEdgeComputeFeatures: boolean;
  EdgeAgentCheckinInterval: number;
  TrustOnFirstConnect: boolean;
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
}

/** The fields of an mTLS upload a refusal can point at. */
export type MtlsField = "CaCert" | "Cert" | "Key";

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
