/** `@pier/agent`: the edge agent. */
export { AgentError, type AgentErrorCode, type Explained } from "./errors.ts";
export { loadAgentConfig, type AgentConfig, type AgentConfigInput, type ConnectionMode } from "./config.ts";
export { EdgeAgent } from "./edge-agent.ts";
export { backoff, backoffDelay } from "./backoff.ts";
export { streamLogger, logLevels, type Logger, type LogLevel } from "./logger.ts";
export { agentVersion } from "./device-info.ts";
export { parseDockerHost, defaultDockerHost, dockerGet, collectSnapshot, maxTunnels, tunnelErrorHeader, type DockerEndpoint } from "./docker/index.ts";
export { swapAgentContainer, type AgentSwapOptions, type AgentSwapResult } from "./update/agent-swap.ts";
