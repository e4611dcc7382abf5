/** `@pier/protocol`: what agent and server say to each other. No Node APIs: the UI shares it. */
export * from "./wire.ts";
export {
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
export { dockerSnapshotSchema, type DockerSnapshot } from "./docker-snapshot.ts";
