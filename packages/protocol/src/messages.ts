import { z } from "zod";
import { dockerStateLimits, dockerStates, edgeGroupNamePattern, edgeGroupRequestLimits, environmentStatuses, identityLimits, renewReasons, retryAfterLimits, tunnelIdPattern } from "./constants.ts";
import { clockSkewLimits } from "./clock-skew.ts";
import { edgeKeySecretPattern } from "./edge-key.ts";
import { desiredStateVersionPattern } from "./fleet.ts";

/** SHA-256 of the device's desired state (docs/fleet.md): when it differs from the one held, the agent fetches `edgePaths.desiredState`. */
const desiredStateVersion = z.string().regex(desiredStateVersionPattern, "must be 64 lowercase hex digits");

/**
 * A clock reading in ms since the Unix epoch (`hello.clock`, `heartbeat.clock`, `welcome.time`,
 * `ack.time`): how each end learns the other's clock (docs/identity.md "Clock skew").
 */
export const clockReadingSchema = z.number().int().nonnegative().max(clockSkewLimits.maxClockMs);

/** What an agent says about itself. */
export const agentInfoSchema = z.object({
  edgeId: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/, "EDGE_ID may hold letters, digits and . _ : @ - only"),
  agentVersion: z.string().min(1).max(64),
  platform: z.enum(["docker", "kubernetes", "standalone"]),
  hostname: z.string().max(255),
  os: z.string().max(64),
  arch: z.string().max(32),
});
export type AgentInfo = z.infer<typeof agentInfoSchema>;

/** One edge group name an agent asks for: 1 to 128 characters, no comma (the list's separator) and no control character. */
export const edgeGroupNameSchema = z
  .string()
  .min(1)
  .max(edgeGroupRequestLimits.nameLength)
  .regex(edgeGroupNamePattern, "may not hold a comma or a control character");

/** First frame of a session, and the body of a polling check-in. */
export const helloSchema = z.object({
  type: z.literal("hello"),
  protocol: z.number().int().positive(),
  /** The environment id from the agent's EDGE_KEY or, once assigned, from its --data. */
  environmentId: z.number().int().nonnegative(),
  agent: agentInfoSchema,
  /** Secret the server handed out at first contact; binds EDGE_ID when no client certificate does. */
  deviceToken: z.string().max(128).optional(),
  /**
   * The 5th field of a per-environment EDGE_KEY: proves the device was given that key, so a
   * hello naming environment N ≠ 0 cannot claim it by guessing N. Absent with a fleet-wide key.
   */
  edgeKeySecret: z.string().regex(edgeKeySecretPattern, "must be 22 to 128 base64url characters").optional(),
  /**
   * PEM PKCS#10 request for a certificate from the built-in CA (docs/identity.md), sent while
   * the agent holds no usable certificate of its own. Only its public key is used.
   */
  csr: z.string().min(1).max(identityLimits.csrPem).optional(),
  /**
   * The edge groups the device asks to join (`EDGE_GROUPS`, docs/fleet.md): shown in the Waiting
   * Room, applied on association to static groups of those names.
   */
  edgeGroups: z.array(edgeGroupNameSchema).max(edgeGroupRequestLimits.names).optional(),
  /** The device's clock when it sent the hello (ms since the epoch): the server records how far it is from its own. */
  clock: clockReadingSchema.optional(),
});
export type Hello = z.infer<typeof helloSchema>;

/**
 * Whether the device's Docker Engine answers (a ping on its socket), and why not. Absent (an
 * older agent, or polling): the server shows the state as unknown, never as unhealthy.
 */
export const dockerStateSchema = z.object({
  state: z.enum(dockerStates),
  error: z.string().max(dockerStateLimits.errorLength).optional(),
});
export type DockerState = z.infer<typeof dockerStateSchema>;

/**
 * Sent every check-in interval. `docker` rides the first heartbeat of a session and any that
 * follows a change of Docker's state (the agent sends one early then); the others leave it out.
 */
export const heartbeatSchema = z.object({ type: z.literal("heartbeat"), seq: z.number().int().nonnegative(), docker: dockerStateSchema.optional(), clock: clockReadingSchema.optional() });
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Frames an agent sends. */
export const agentMessageSchema = z.discriminatedUnion("type", [helloSchema, heartbeatSchema]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

export const environmentStatusSchema = z.enum(environmentStatuses);
export type EnvironmentStatus = z.infer<typeof environmentStatusSchema>;

/**
 * A device certificate the server issued (docs/identity.md): the PEM leaf, the PEM CA
 * certificate(s) it chains to, and the PEM CA certificates the server's own certificate chains
 * to, which the agent keeps to verify the server through a CA rotation.
 */
export const certificateGrantSchema = z.object({
  certificate: z.string().min(1).max(identityLimits.certificatePem),
  chain: z.string().min(1).max(identityLimits.bundlePem),
  trustBundle: z.string().min(1).max(identityLimits.bundlePem),
});
export type CertificateGrant = z.infer<typeof certificateGrantSchema>;

/** Body of `POST /api/edge/v1/certificate/renew`: a PEM CSR for the device's new key. */
export const renewRequestSchema = z.object({ csr: z.string().min(1).max(identityLimits.csrPem) });
export type RenewRequest = z.infer<typeof renewRequestSchema>;

/** The server's answer to a hello (also the body of a check-in response). */
export const welcomeSchema = z.object({
  type: z.literal("welcome"),
  environmentId: z.number().int().positive(),
  status: environmentStatusSchema,
  checkinIntervalSeconds: z.number().positive(),
  deviceToken: z.string().max(128).optional(),
  /** A certificate issued for the CSR of the hello (or an earlier one), when there is one to deliver. */
  certificate: certificateGrantSchema.optional(),
  /** Absent while the device has no desired state (waiting room, or a server without fleet features). */
  desiredStateVersion: desiredStateVersion.optional(),
  /** The server's clock when it sent the welcome (ms since the epoch): the agent judges its certificate by it. */
  time: clockReadingSchema.optional(),
});
export type Welcome = z.infer<typeof welcomeSchema>;

/** Pushed when the operator changes something about this device (association, interval, its desired state). */
export const statusSchema = z.object({ type: z.literal("status"), status: environmentStatusSchema, checkinIntervalSeconds: z.number().positive(), desiredStateVersion: desiredStateVersion.optional() });
export type Status = z.infer<typeof statusSchema>;

/** The server's answer to a heartbeat: the agent measures check-in latency with it, and knows the session is alive. */
export const ackSchema = z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative(), time: clockReadingSchema.optional() });
export type Ack = z.infer<typeof ackSchema>;

/** The server asks the agent to open a tunnel stream to its Docker Engine. */
export const tunnelRequestSchema = z.object({ type: z.literal("tunnel"), id: z.string().regex(tunnelIdPattern) });
export type TunnelRequest = z.infer<typeof tunnelRequestSchema>;

/**
 * The server ends a session and says why (removed, identity conflict, refused, busy, restarting).
 * `retryAfterSeconds`: when a retry later is the right move, the least time to wait before dialing again.
 */
export const refusedSchema = z.object({
  type: z.literal("refused"),
  code: z.string(),
  message: z.string(),
  retryAfterSeconds: z.number().int().min(retryAfterLimits.minSeconds).max(retryAfterLimits.maxSeconds).optional(),
});
export type Refused = z.infer<typeof refusedSchema>;

/** Pushed when the server issued the device a certificate (at association): store it and reconnect with it. */
export const certificateMessageSchema = z.object({ type: z.literal("certificate"), grant: certificateGrantSchema });
export type CertificateMessage = z.infer<typeof certificateMessageSchema>;

/**
 * The server asks the agent to renew its certificate within `withinSeconds` (a random moment in
 * that window): a CA rotation, its rollback, or an administrator. `trustBundle`: the CAs the
 * server's certificate may chain to from now on.
 */
export const renewMessageSchema = z.object({
  type: z.literal("renew"),
  reason: z.enum(renewReasons),
  withinSeconds: z.number().int().nonnegative().max(86_400),
  trustBundle: z.string().min(1).max(identityLimits.bundlePem).optional(),
});
export type RenewMessage = z.infer<typeof renewMessageSchema>;

/** Frames a server sends. */
export const serverMessageSchema = z.discriminatedUnion("type", [welcomeSchema, statusSchema, ackSchema, tunnelRequestSchema, refusedSchema, certificateMessageSchema, renewMessageSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
