import { z } from "zod";
import { ProtocolError } from "./errors.ts";

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
} as const;

/** Headers of the edge protocol. */
export const edgeHeaders = {
  /**
   * On a tunnel stream the agent opens without a body: why it could not reach its Docker
   * Engine (or has too many tunnels open), so the server fails at once instead of timing out.
   */
  tunnelError: "pier-tunnel-error",
} as const;

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

/** First frame of a session, and the body of a polling check-in. */
export const helloSchema = z.object({
  type: z.literal("hello"),
  protocol: z.number().int().positive(),
  /** The environment id from the agent's EDGE_KEY or, once assigned, from its --data. */
  environmentId: z.number().int().nonnegative(),
  agent: agentInfoSchema,
  /** Secret the server handed out at first contact; binds EDGE_ID when no client certificate does. */
  deviceToken: z.string().max(128).optional(),
});
export type Hello = z.infer<typeof helloSchema>;

export const heartbeatSchema = z.object({ type: z.literal("heartbeat"), seq: z.number().int().nonnegative() });
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Frames an agent sends. */
export const agentMessageSchema = z.discriminatedUnion("type", [helloSchema, heartbeatSchema]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

export const environmentStatusSchema = z.enum(["waiting", "associated"]);
export type EnvironmentStatus = z.infer<typeof environmentStatusSchema>;

/** The server's answer to a hello (also the body of a check-in response). */
export const welcomeSchema = z.object({
  type: z.literal("welcome"),
  environmentId: z.number().int().positive(),
  status: environmentStatusSchema,
  checkinIntervalSeconds: z.number().positive(),
  deviceToken: z.string().max(128).optional(),
});
export type Welcome = z.infer<typeof welcomeSchema>;

/** Pushed when the operator changes something about this device (association, interval). */
export const statusSchema = z.object({ type: z.literal("status"), status: environmentStatusSchema, checkinIntervalSeconds: z.number().positive() });
export type Status = z.infer<typeof statusSchema>;

/** The server's answer to a heartbeat: the agent measures check-in latency with it, and knows the session is alive. */
export const ackSchema = z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() });
export type Ack = z.infer<typeof ackSchema>;

/** The server asks the agent to open a tunnel stream to its Docker Engine. */
export const tunnelRequestSchema = z.object({ type: z.literal("tunnel"), id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/) });
export type TunnelRequest = z.infer<typeof tunnelRequestSchema>;

/** The server ends a session and says why (removed, identity conflict, refused). */
export const refusedSchema = z.object({ type: z.literal("refused"), code: z.string(), message: z.string() });
export type Refused = z.infer<typeof refusedSchema>;

/** Frames a server sends. */
export const serverMessageSchema = z.discriminatedUnion("type", [welcomeSchema, statusSchema, ackSchema, tunnelRequestSchema, refusedSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** Frames are single-line JSON objects; a line longer than this is refused. */
export const maxFrameBytes = 64 * 1024;

/** One NDJSON frame. */
export function encodeFrame(message: AgentMessage | ServerMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a byte stream into frames and validates each with `schema`.
 *
 * @example
 * const decoder = new FrameDecoder(serverMessageSchema);
 * stream.on("data", (chunk) => decoder.push(chunk).forEach(handle));
 */
export class FrameDecoder<T> {
  readonly #schema: z.ZodType<T>;
  // One streaming decoder: a multi-byte character split across chunks stays whole.
  readonly #text = new TextDecoder();
  #buffer = "";

  constructor(schema: z.ZodType<T>) {
    this.#schema = schema;
  }

  /** Adds bytes; returns the complete frames they finish. Throws `message_malformed`. */
  push(chunk: string | Uint8Array): T[] {
    this.#buffer += typeof chunk === "string" ? chunk : this.#text.decode(chunk, { stream: true });
    const out: T[] = [];
    for (let newline = this.#buffer.indexOf("\n"); newline >= 0; newline = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line !== "") out.push(parseMessage(this.#schema, line));
    }
    if (this.#buffer.length > maxFrameBytes) throw new ProtocolError("message_malformed", `A frame exceeds ${maxFrameBytes} bytes.`);
    return out;
  }
}

/**
 * Parses and validates one JSON document, naming the first invalid field. `noun` names the
 * document in messages ("The snapshot is not valid JSON.").
 */
export function parseMessage<T>(schema: z.ZodType<T>, text: string, noun = "message"): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError("message_malformed", `The ${noun} is not valid JSON.`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ProtocolError("message_malformed", `Invalid ${noun}: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}
