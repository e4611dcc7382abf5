/**
 * The protocol's constants, shared by the zod schemas (messages.ts) and the zod-free validators
 * the agent uses (server-frames.ts).
 */

/** Protocol version spoken by this build; the server refuses versions it does not know. */
export const protocolVersion = 1;

/** HTTP paths of the edge protocol. */
export const edgePaths = {
  /** Long-lived, full-duplex HTTP/2 stream on the tunnel listener (NDJSON both ways). */
  session: "/api/edge/v1/session",
  /** One check-in per request, for networks that cut long-lived connections. */
  checkin: "/api/edge/v1/checkin",
  /** The agent posts its Docker snapshot here, on its session's HTTP/2 connection (JSON body). */
  snapshot: "/api/edge/v1/snapshot",
  /**
   * Prefix of tunnel streams: `POST /api/edge/v1/tunnel/<id>`, opened by the agent when the
   * server pushes `tunnel {id}`. Full duplex: the request body carries the Docker Engine's bytes
   * to the server, the response body the server's bytes to the Docker Engine.
   */
  tunnel: "/api/edge/v1/tunnel/",
  /**
   * Certificate renewal (docs/identity.md): `POST` with `{csr}` on the agent's mTLS session;
   * the answer is a certificate grant, or 429/503 with `Retry-After`.
   */
  renew: "/api/edge/v1/certificate/renew",
  /** `GET`: the device's desired state (`desiredStateSchema`, docs/fleet.md), on its session's connection. */
  desiredState: "/api/edge/v1/desired-state",
  /** `POST` a `fleetReportSchema` body: stack status transitions, job runs, an agent update's end. */
  report: "/api/edge/v1/report",
  /** `POST` a `jobLogsUploadSchema` body: a job's last output, when the operator asked for it. */
  jobLogs: "/api/edge/v1/job-logs",
} as const;

/** Headers of the edge protocol. */
export const edgeHeaders = {
  /**
   * On a tunnel stream the agent opens without a body: why it could not reach its Docker
   * Engine (or has too many tunnels open), so the server fails at once instead of timing out.
   */
  tunnelError: "pier-tunnel-error",
  /**
   * On the fleet requests of a polling agent (no session connection to name it): its EDGE_ID,
   * proved by the client certificate of the request or by `deviceToken` below.
   */
  edgeId: "pier-edge-id",
  /** The device token the server handed out at first contact, for a polling agent without a client certificate. */
  deviceToken: "pier-device-token",
} as const;

/** States of an environment, as the server reports them to its agent. */
export const environmentStatuses = ["waiting", "associated"] as const;

/** Tunnel ids the server pushes: URL-safe, 8 to 64 characters. */
export const tunnelIdPattern = /^[A-Za-z0-9_-]{8,64}$/;

/** Snapshots larger than this are refused (a host with thousands of images still fits). */
export const maxSnapshotBytes = 4 * 1024 * 1024;

/**
 * Snapshots of a device still in the waiting room larger than this are refused: nobody has
 * vouched for it yet, so it may not fill the store (an associated device gets `maxSnapshotBytes`).
 */
export const maxWaitingSnapshotBytes = 64 * 1024;

/**
 * `refused` codes the agent acts on (others it reports with the server's message). `replaced`:
 * another connection presented this device's identity and took over its session; the agent
 * backs off and, when it keeps happening, says that another device uses its identity.
 * `revoked`: an administrator revoked the device's certificate; the agent says so and what to do.
 * `certificate_expired`: the certificate the session was opened with has expired; the agent
 * reconnects with a newer one, or with its expired one and a CSR to re-enroll.
 * `unavailable`: the server is busy admitting other devices (docs/protocol.md "Admission control
 * and restarts"); the agent dials again after `retryAfterSeconds` (at most its 60 s backoff cap).
 * `restarting`: the server is shutting down gracefully; the agent dials again after exactly
 * `retryAfterSeconds` (the server spread these over the fleet) without advancing its backoff.
 */
export const refusedCodes = { replaced: "replaced", revoked: "revoked", expired: "certificate_expired", unavailable: "unavailable", restarting: "restarting" } as const;

/** Bounds of `refused.retryAfterSeconds`: a whole number of seconds, 1 s to 1 h. */
export const retryAfterLimits = { minSeconds: 1, maxSeconds: 3600 } as const;

/**
 * Sizes of the identity lifecycle's fields (docs/identity.md): a PEM CSR (an RSA-8192 one is
 * ~3.5 KiB), a PEM leaf certificate, and a PEM bundle of CA certificates (a rotation has two
 * CAs, an operator chain a few).
 */
export const identityLimits = { csrPem: 8 * 1024, certificatePem: 16 * 1024, bundlePem: 64 * 1024 } as const;

/** Bounds of `hello.edgeGroups` (the agent's `EDGE_GROUPS`, docs/fleet.md): at most 32 names of 1 to 128 characters. */
export const edgeGroupRequestLimits = { names: 32, nameLength: 128 } as const;

/** `heartbeat.docker.state` (docs/protocol.md "Frames"): whether the device's Docker Engine answers a ping. */
export const dockerStates = ["up", "down"] as const;

/** `heartbeat.docker.error`: why Docker does not answer, at most 300 characters (the agent cuts a longer reason). */
export const dockerStateLimits = { errorLength: 300 } as const;

/** An edge group name an agent may ask for: no comma (`EDGE_GROUPS`' separator), no control character. */
// eslint-disable-next-line no-control-regex
export const edgeGroupNamePattern = /^[^,\u0000-\u001f\u007f]+$/;

/** Why the server asks an agent to renew now: a CA rotation (or its rollback), or an administrator. */
export const renewReasons = ["rotation", "rollback", "requested"] as const;
