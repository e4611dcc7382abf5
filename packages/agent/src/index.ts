/** `@pier/agent`: the edge agent. */
export { AgentError, type AgentErrorCode, type Explained } from "./errors.ts";
export { loadAgentConfig, type AgentConfig, type AgentConfigInput, type ConnectionMode } from "./config.ts";
export { EdgeAgent, backoff, backoffDelay } from "./edge-agent.ts";
export { streamLogger, logLevels, type Logger, type LogLevel } from "./logger.ts";
export { agentVersion } from "./device-info.ts";
