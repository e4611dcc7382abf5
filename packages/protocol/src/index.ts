/** `@pier/protocol`: what agent and server say to each other. No Node APIs: the UI shares it. */
export { ProtocolError, type ProtocolErrorCode } from "./errors.ts";
export { encodeEdgeKey, decodeEdgeKey, splitHostPort, type EdgeKey } from "./edge-key.ts";
export { isHeartbeatAlive, defaultCheckinIntervalSeconds, heartbeatGraceSeconds } from "./heartbeat.ts";
export {
  protocolVersion,
  edgePaths,
  edgeHeaders,
  agentInfoSchema,
  helloSchema,
  heartbeatSchema,
  agentMessageSchema,
  environmentStatusSchema,
  welcomeSchema,
  statusSchema,
  refusedSchema,
  ackSchema,
  type Ack,
  tunnelRequestSchema,
  type TunnelRequest,
  serverMessageSchema,
  maxFrameBytes,
  encodeFrame,
  parseMessage,
  FrameDecoder,
  type AgentInfo,
  type Hello,
  type Heartbeat,
  type AgentMessage,
  type EnvironmentStatus,
  type Welcome,
  type Status,
  type Refused,
  type ServerMessage,
} from "./messages.ts";
export { dockerSnapshotSchema, maxSnapshotBytes, type DockerSnapshot } from "./docker-snapshot.ts";
export { closingResponse, headerValue, relayHeaders, requestHead, type HttpHeaders } from "./http-relay.ts";
