import { z } from "@hono/zod-openapi";
import { type CertificateInfo, type ListedCertificate, parseCertificate, parsePem } from "@pier/pki";
import { type DockerState, isHeartbeatAlive } from "@pier/protocol";
import { type TlsMaterial, describeCrls } from "../tls/index.ts";
import type { CertificateStatusFacts, Environment, IdentityClone, Settings, StoredDockerSummary } from "../store/store.ts";
import { defaultTrustDomain } from "../identity/device-ca.ts";

/** Portainer's environment type number for "Edge agent on Docker". */
export const edgeAgentOnDockerType = 4;

/** A summary of a device's Docker snapshot, in Portainer's names. */
export const snapshotSummarySchema = z
  .object({
    Time: z.number().int().openapi({ description: "Unix seconds: when the server received the snapshot" }),
    DockerVersion: z.string(),
    RunningContainerCount: z.number().int(),
    StoppedContainerCount: z.number().int().openapi({ description: "Containers exited, created or dead (not paused or restarting)" }),
    HealthyContainerCount: z.number().int().openapi({ description: "Containers whose health check passes" }),
    UnhealthyContainerCount: z.number().int().openapi({ description: "Containers whose health check fails" }),
    ImageCount: z.number().int(),
    VolumeCount: z.number().int(),
    TotalCPU: z.number().int(),
    TotalMemory: z.number().int().openapi({ description: "Bytes" }),
  })
  .openapi("DockerSnapshotSummary");
export type SnapshotSummary = z.infer<typeof snapshotSummarySchema>;

/** Maps a stored Docker summary to Portainer's `Snapshots[]` entry. */
export function snapshotSummary({ at, summary }: StoredDockerSummary): SnapshotSummary {
  return {
    Time: Math.floor(at.getTime() / 1000),
    DockerVersion: summary.dockerVersion,
    RunningContainerCount: summary.runningContainers,
    StoppedContainerCount: summary.stoppedContainers,
    HealthyContainerCount: summary.healthyContainers,
    UnhealthyContainerCount: summary.unhealthyContainers,
    ImageCount: summary.images,
    VolumeCount: summary.volumes,
    TotalCPU: summary.cpus,
    TotalMemory: summary.memoryBytes,
  };
}

/** Which identity flow a device is in and where it stands in it (docs/identity.md). */
const identitySchema = z
  .object({
    Flow: z.enum(["built-in", "operator", "token"]).openapi({ description: "built-in: Pier issues its certificate (enrolled with a CSR); operator: it presents a certificate from the operator's CA; token: a device token binds it (no certificate)" }),
    EnrollmentKeyFingerprint: z.string().nullable().openapi({ description: "SHA-256 (hex) of the SubjectPublicKeyInfo of the key the device enrolled with; the agent logs the same at start" }),
    Reenrollment: z
      .object({ PreviousSerial: z.string(), SameKey: z.boolean(), At: z.string() })
      .nullable()
      .openapi({ description: "The device came back with an expired certificate of the built-in CA (shown as 'expired, same key as <serial>')" }),
    Certificate: z
      .object({ Serial: z.string(), NotAfter: z.string(), Status: z.enum(["active", "expiring", "expired", "revoked"]) })
      .nullable()
      .openapi({ description: "The newest certificate the built-in CA issued to it; expiring: less than a third of its lifetime left" }),
  })
  .openapi("EndpointIdentity");

/** The environment as Portainer's API shows it, with Pier's extra facts under `Pier`. */
export const endpointSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    Type: z.number().int().openapi({ description: "4 = Edge agent on Docker (Portainer's numbering)" }),
    URL: z.string(),
    EdgeID: z.string(),
    EdgeKey: z.string().optional().openapi({ description: "Only in the answer that made an environment's own key (POST /api/endpoints, POST /api/endpoints/{id}/edge/key): the server keeps only a hash of its secret" }),
    UserTrusted: z.boolean().openapi({ description: "false while the device is in the waiting room" }),
    LastCheckInDate: z.number().int().openapi({ description: "Unix seconds; 0 when never seen" }),
    EdgeCheckinInterval: z.number().int().openapi({ description: "Seconds; 0 = the global setting" }),
    Heartbeat: z.boolean().openapi({ description: "Last check-in no older than 2 × interval + 20 s" }),
    Status: z.number().int().openapi({ description: "1 up, 2 down" }),
    Agent: z.object({ Version: z.string() }),
    Snapshots: z.array(snapshotSummarySchema).openapi({ description: "The latest Docker snapshot (at most one); empty until the agent reports one" }),
    TagIds: z.array(z.number().int()).openapi({ description: "The tags it carries (GET /api/tags), ascending" }),
    Pier: z.object({
      Connected: z.boolean(),
      Platform: z.string(),
      Hostname: z.string(),
      OS: z.string(),
      Arch: z.string(),
      SourceAddress: z.string(),
      CreatedAt: z.string(),
      ClientCertificate: z
        .object({
          Subject: z.string(),
          Issuer: z.string(),
          SerialNumber: z.string(),
          FingerprintSHA256: z.string(),
          NotAfter: z.string(),
          SharedBy: z.number().int().openapi({ description: "How many environments present this same certificate (by fingerprint); more than 1: a shared certificate such as the seeds' CN=edge-client" }),
        })
        .nullable(),
      Identity: identitySchema,
      IdentityConflict: z.object({ At: z.string(), SourceAddress: z.string(), CertificateSubject: z.string().optional() }).nullable(),
      Clone: z
        .object({ Addresses: z.array(z.string()), FirstSeen: z.string(), LastSeen: z.string() })
        .nullable()
        .openapi({ description: "Set when this device's identity was used from several source addresses at once (a copied data directory or certificate): the addresses and when the latest episode was first and last seen" }),
      RequestedEdgeGroups: z.array(z.string()).openapi({ description: "The edge groups a waiting device asked for (its agent's EDGE_GROUPS); applied, and emptied, when it is associated" }),
      EdgeGroupsNotApplied: z
        .array(z.object({ Name: z.string(), Reason: z.enum(["unknown", "dynamic"]) }))
        .optional()
        .openapi({ description: "Only in the answer that associated the device: requested names that are no edge group (unknown, nothing is created) or a dynamic one (joined only through tags)" }),
      DesiredStateVersion: z.string().openapi({ description: "SHA-256 of what the device must run (docs/fleet.md \"Desired state\"); empty until computed" }),
      DesiredStateError: z.string().nullable().openapi({ description: "Why the latest desired state could not be delivered (too large): the device keeps its previous one" }),
      DockerStatus: z.enum(["up", "down", "unknown"]).openapi({
        description: "Whether the device's Docker Engine answers its agent's ping, as reported on its session (docs/protocol.md \"Frames\"); unknown without a session, with polling, or from an agent that does not report it",
      }),
      DockerError: z.string().nullable().openapi({ description: "Why Docker does not answer (DockerStatus down), at most 300 characters" }),
      ClockSkew: z
        .object({
          Seconds: z.number().int().openapi({ description: "The device's clock minus the server's, whole seconds: negative when the device is behind" }),
          MeasuredAt: z.string().openapi({ description: "When the frame carrying the device's clock arrived (server time, ISO 8601)" }),
        })
        .nullable()
        .openapi({
          description:
            "How far the device's clock is from the server's, as its agent last said in a hello or heartbeat (docs/identity.md \"Clock skew\"); reported from 60 s either way. Null when unknown: an older agent, none seen since this server started, or (replicas) another replica holds its session",
        }),
    }),
  })
  .openapi("Endpoint");
export type EndpointView = z.infer<typeof endpointSchema>;

/** Live facts the store does not hold. */
export interface LiveState {
  readonly lastCheckIn: Date | null;
  readonly connected: boolean;
  readonly edgeKey?: string;
  /** The summary of the latest Docker snapshot, `null` when none. */
  readonly docker: StoredDockerSummary | null;
  /** Whether its Docker Engine answers, as its agent last reported on its session; unknown when absent. */
  readonly dockerState?: DockerState | undefined;
  /** How far its clock was from the server's when its agent last said; unknown when absent. */
  readonly clockSkew?: { readonly skewMs: number; readonly at: Date } | undefined;
  /** The clone flag as the edge service knows it (fresher than the store); the stored one when absent. */
  readonly clone?: IdentityClone | null;
  /** The device certificates the built-in CA issued to it, newest first (only the newest is shown). */
  readonly certificates?: readonly CertificateStatusFacts[];
  /** How many environments present the client certificate this one presented (1 when only itself). */
  readonly sharedBy?: number;
  /** The tags it carries; none when absent. */
  readonly tagIds?: readonly number[];
  /** The edge groups it asked for while waiting (`EDGE_GROUPS`); none when absent. */
  readonly requestedEdgeGroups?: readonly string[];
  /** What its association could not apply of its request (only in the answer that associated it). */
  readonly edgeGroupsNotApplied?: readonly { name: string; reason: "unknown" | "dynamic" }[];
}

/** `Pier.Identity` of an environment (docs/identity.md). */
export function identityView(environment: Environment, certificates: readonly CertificateStatusFacts[], now = Date.now()): EndpointView["Pier"]["Identity"] {
  const [newest] = certificates;
  const flow = newest || environment.enrollmentKeySha256 !== null ? "built-in" : environment.identity?.kind === "certificate" ? "operator" : "token";
  const reenrollment = environment.reenrollment;
  let certificate: EndpointView["Pier"]["Identity"]["Certificate"] = null;
  if (newest) {
    const left = newest.notAfter.getTime() - now;
    const lifetime = newest.notAfter.getTime() - newest.notBefore.getTime();
    const status = newest.revokedAt !== null ? "revoked" : left <= 0 ? "expired" : left < lifetime / 3 ? "expiring" : "active";
    certificate = { Serial: newest.serial, NotAfter: newest.notAfter.toISOString(), Status: status };
  }
  return {
    Flow: flow,
    EnrollmentKeyFingerprint: environment.enrollmentKeySha256,
    Reenrollment: reenrollment ? { PreviousSerial: reenrollment.previousSerial, SameKey: reenrollment.sameKey, At: reenrollment.at.toISOString() } : null,
    Certificate: certificate,
  };
}

/** Maps a stored environment to Portainer's JSON shape. */
export function endpointView(environment: Environment, settings: Settings, live: LiveState, now = Date.now()): EndpointView {
  const interval = environment.checkinIntervalSeconds ?? settings.edgeAgentCheckinInterval;
  const alive = isHeartbeatAlive(live.lastCheckIn, interval, now);
  const certificate = environment.clientCertificate;
  const conflict = environment.identityConflict;
  const clone = live.clone === undefined ? environment.identityClone : live.clone;
  return {
    Id: environment.id,
    Name: environment.name,
    Type: edgeAgentOnDockerType,
    URL: "",
    EdgeID: environment.edgeId ?? "",
    ...(live.edgeKey === undefined ? {} : { EdgeKey: live.edgeKey }),
    UserTrusted: environment.userTrusted,
    LastCheckInDate: live.lastCheckIn ? Math.floor(live.lastCheckIn.getTime() / 1000) : 0,
    EdgeCheckinInterval: environment.checkinIntervalSeconds ?? 0,
    Heartbeat: alive,
    Status: alive ? 1 : 2,
    Agent: { Version: environment.agent?.version ?? "" },
    Snapshots: live.docker ? [snapshotSummary(live.docker)] : [],
    TagIds: [...(live.tagIds ?? [])],
    Pier: {
      Connected: live.connected,
      Platform: environment.agent?.platform ?? "",
      Hostname: environment.agent?.hostname ?? "",
      OS: environment.agent?.os ?? "",
      Arch: environment.agent?.arch ?? "",
      SourceAddress: environment.sourceAddress ?? "",
      CreatedAt: environment.createdAt.toISOString(),
      ClientCertificate: certificate
        ? { Subject: certificate.subject, Issuer: certificate.issuer, SerialNumber: certificate.serialNumber, FingerprintSHA256: certificate.fingerprintSha256, NotAfter: certificate.notAfter.toISOString(), SharedBy: live.sharedBy ?? 1 }
        : null,
      Identity: identityView(environment, live.certificates ?? [], now),
      IdentityConflict: conflict ? { At: conflict.at.toISOString(), SourceAddress: conflict.sourceAddress, ...(conflict.certificateSubject ? { CertificateSubject: conflict.certificateSubject } : {}) } : null,
      Clone: clone ? { Addresses: clone.addresses, FirstSeen: clone.firstSeen.toISOString(), LastSeen: clone.lastSeen.toISOString() } : null,
      RequestedEdgeGroups: [...(live.requestedEdgeGroups ?? [])],
      ...(live.edgeGroupsNotApplied === undefined ? {} : { EdgeGroupsNotApplied: live.edgeGroupsNotApplied.map(({ name, reason }) => ({ Name: name, Reason: reason })) }),
      DesiredStateVersion: environment.desiredStateVersion ?? "",
      DesiredStateError: environment.desiredStateError ?? null,
      DockerStatus: live.dockerState?.state ?? "unknown",
      DockerError: live.dockerState?.state === "down" ? (live.dockerState.error ?? null) : null,
      ClockSkew: live.clockSkew ? { Seconds: Math.round(live.clockSkew.skewMs / 1000), MeasuredAt: live.clockSkew.at.toISOString() } : null,
    },
  };
}

/** Settings in Portainer's JSON names (the subset Pier has). */
export const settingsSchema = z
  .object({
    EnableEdgeComputeFeatures: z.boolean(),
    EdgeAgentCheckinInterval: z.number().int(),
    TrustOnFirstConnect: z.boolean(),
    AutoReissueWithinSeconds: z.number().int().openapi({ description: "Expired device certificates are re-issued without the waiting room within this many seconds of expiry; 0 = off" }),
    EdgePortainerUrl: z.string(),
    TrustDomain: z.string().openapi({ description: "SPIFFE trust domain of device certificates' URI SAN spiffe://<it>/edge/<EDGE_ID>" }),
    BindCommonName: z.boolean().openapi({ description: "An operator certificate whose CN is an EDGE_ID is accepted only with that EDGE_ID" }),
    Edge: z.object({ TunnelServerAddress: z.string() }),
    WebhookURL: z.string().openapi({ description: "Alerts are POSTed here (https); empty: no webhook" }),
    WebhookSecretSet: z.boolean().openapi({ description: "Whether a webhook secret is set; the secret itself is shown only when set or generated" }),
    AlertExpiryDays: z.number().int().openapi({ description: "Alert on a device certificate expiring within this many days without a renewal in sight" }),
  })
  .openapi("Settings");

/** Maps stored settings to Portainer's JSON names. */
export function settingsView(settings: Settings): z.infer<typeof settingsSchema> {
  return {
    EnableEdgeComputeFeatures: settings.edgeComputeEnabled,
    EdgeAgentCheckinInterval: settings.edgeAgentCheckinInterval,
    TrustOnFirstConnect: settings.trustOnFirstConnect,
    AutoReissueWithinSeconds: settings.autoReissueWithinSeconds ?? 0,
    EdgePortainerUrl: settings.edgePortainerUrl ?? "",
    TrustDomain: settings.trustDomain ?? defaultTrustDomain,
    BindCommonName: settings.bindCommonName === true,
    Edge: { TunnelServerAddress: settings.edgeTunnelServerAddress ?? "" },
    WebhookURL: settings.webhookUrl ?? "",
    WebhookSecretSet: settings.webhookSecret !== undefined,
    AlertExpiryDays: settings.alertExpiryDays ?? 7,
  };
}

/** The error body of every API failure. */
export const errorSchema = z
  .object({
    code: z.string().openapi({ description: "Stable error code (docs/protocol.md, Errors)", example: "not_found" }),
    message: z.string().openapi({ description: "What is wrong, for people; Portainer scripts and the docker CLI show it" }),
    details: z.record(z.string(), z.unknown()).optional().openapi({ description: "More facts, as an object" }),
    field: z.string().optional().openapi({ description: "The request field at fault, as a dotted path", example: "Password" }),
    fix: z.string().optional().openapi({ description: "What to do about it" }),
  })
  .openapi("Error");

/** The facts of a certificate the UI shows, from the certificate itself or the CA's index. */
export const certSummarySchema = z
  .object({
    Subject: z.string(),
    Issuer: z.string(),
    SerialNumber: z.string().openapi({ description: "Lowercase hex" }),
    FingerprintSHA256: z.string().openapi({ description: "SHA-256 of the DER certificate, lowercase hex" }),
    NotBefore: z.string().openapi({ description: "ISO 8601" }),
    NotAfter: z.string().openapi({ description: "ISO 8601" }),
  })
  .openapi("CertSummary");
export type CertSummary = z.infer<typeof certSummarySchema>;

/** Summarises a parsed certificate. */
export function certSummary(certificate: CertificateInfo): CertSummary {
  return {
    Subject: certificate.subjectText,
    Issuer: certificate.issuerText,
    SerialNumber: certificate.serialNumber,
    FingerprintSHA256: certificate.fingerprintSha256,
    NotBefore: certificate.notBefore.toISOString(),
    NotAfter: certificate.notAfter.toISOString(),
  };
}

/** `GET/PUT /api/settings/edge/mtls`: the separate mTLS certificate in force and where it comes from. */
export const mtlsStateSchema = z
  .object({
    Source: z.enum(["none", "flags", "uploaded"]).openapi({ description: "flags: --mtlscacert/--mtlscert/--mtlskey (change the files on disk); uploaded: kept in DATA/mtls/" }),
    CaCert: certSummarySchema.nullable(),
    Cert: certSummarySchema.extend({ Names: z.array(z.string()).openapi({ description: "DNS and IP subjectAltNames: the names routed to the mTLS server" }) }).nullable(),
    Crl: z
      .array(z.object({ Issuer: z.string(), CrlNumber: z.number().int().nullable(), ThisUpdate: z.string(), NextUpdate: z.string().nullable(), Entries: z.number().int() }))
      .nullable()
      .openapi({ description: "The CA's CRLs enforced in the handshake (--mtlscrl or the uploaded crl.pem), one item per CRL; null without one" }),
  })
  .openapi("MtlsState");
export type MtlsStateView = z.infer<typeof mtlsStateSchema>;

/** Maps the mTLS material in force to `MtlsState`. */
export function mtlsStateView(source: MtlsStateView["Source"], mtls: TlsMaterial | undefined): MtlsStateView {
  const [ca] = mtls?.ca ? parsePem(mtls.ca).filter((block) => block.label === "CERTIFICATE") : [];
  return {
    Source: source,
    CaCert: ca ? certSummary(parseCertificate(ca.der)) : null,
    Cert: mtls ? { ...certSummary(mtls.certificate), Names: mtls.names } : null,
    Crl: mtls?.crl ? describeCrls(mtls.crl) : null,
  };
}

/** A refused mTLS upload, in the one error shape: the field it concerns, its fix, and the doctor's finding. */
export const mtlsRefusalSchema = z
  .object({
    code: z.literal("tls_material_invalid"),
    message: z.string(),
    field: z.enum(["CaCert", "Cert", "Key", "Crl"]),
    fix: z.string(),
    details: z.object({
      finding: z.string().openapi({ description: "pier doctor's finding code (eku_missing, key_mismatch, not_issued_by_ca, expired…), or missing / refused_by_node" }),
    }),
  })
  .openapi("MtlsRefusal");

/** `GET /api/certificates`: every certificate the UI's certificate screen shows. */
export const certificatesSchema = z
  .object({
    CA: certSummarySchema.nullable().openapi({ description: "The built-in CA (DATA/ca); null when there is none" }),
    Issued: z.array(certSummarySchema.extend({ Profile: z.string().openapi({ description: "server or client" }), Revoked: z.boolean() })),
    Server: certSummarySchema.openapi({ description: "The HTTPS listener's certificate in force" }),
    Mtls: certSummarySchema.nullable().openapi({ description: "The separate mTLS certificate in force" }),
    Clients: z.array(
      certSummarySchema.extend({
        NotBefore: z.string().nullable().openapi({ description: "ISO 8601; null for certificates recorded before Pier kept it" }),
        EnvironmentId: z.number().int(),
        EnvironmentName: z.string(),
      }),
    ).openapi({ description: "The client certificates environments last presented" }),
  })
  .openapi("Certificates");
export type CertificatesView = z.infer<typeof certificatesSchema>;

/** Maps an index entry of the built-in CA to an `Issued` entry. */
export function issuedView(record: ListedCertificate, issuer: string): CertificatesView["Issued"][number] {
  return {
    Subject: record.subject,
    Issuer: issuer,
    SerialNumber: record.serialNumber,
    FingerprintSHA256: record.fingerprintSha256,
    NotBefore: record.notBefore,
    NotAfter: record.notAfter,
    Profile: record.profile,
    Revoked: record.status === "revoked",
  };
}

/** Maps an environment's recorded client certificate to a `Clients` entry. */
export function clientCertificateView(environment: Environment): CertificatesView["Clients"][number] | undefined {
  const certificate = environment.clientCertificate;
  if (!certificate) return undefined;
  return {
    Subject: certificate.subject,
    Issuer: certificate.issuer,
    SerialNumber: certificate.serialNumber,
    FingerprintSHA256: certificate.fingerprintSha256,
    NotBefore: certificate.notBefore?.toISOString() ?? null,
    NotAfter: certificate.notAfter.toISOString(),
    EnvironmentId: environment.id,
    EnvironmentName: environment.name,
  };
}
