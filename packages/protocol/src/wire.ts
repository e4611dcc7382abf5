/**
 * `@pier/protocol/wire`: the protocol without zod, for the agent, whose idle memory counts:
 * constants, framing, the edge key, HTTP relaying and validators of the server's frames. Types
 * are the same as `@pier/protocol`'s (import them from there: type imports cost nothing).
 */
export { ProtocolError, type ProtocolErrorCode } from "./errors.ts";
export { encodeEdgeKey, decodeEdgeKey, splitHostPort, edgeKeySecretPattern, edgeKeyLimits, type EdgeKey } from "./edge-key.ts";
export { isHeartbeatAlive, defaultCheckinIntervalSeconds, heartbeatGraceSeconds } from "./heartbeat.ts";
export { agentChart, agentChartPath } from "./agent-chart.ts";
export { protocolVersion, edgePaths, edgeHeaders, environmentStatuses, tunnelIdPattern, maxSnapshotBytes, maxWaitingSnapshotBytes, refusedCodes, retryAfterLimits, identityLimits, renewReasons, edgeGroupRequestLimits, edgeGroupNamePattern, dockerStates, dockerStateLimits } from "./constants.ts";
export { maxFrameBytes, encodeFrame, parseMessage, FrameDecoder, type Validator } from "./framing.ts";
export { serverMessageValidator, welcomeValidator, certificateGrantValidator, isTunnelId } from "./server-frames.ts";
export { closingResponse, headerValue, relayHeaders, requestHead, type HttpHeaders } from "./http-relay.ts";
export { clockSkewLimits, isReportableSkew, formatSkewDuration, describeClockSkew } from "./clock-skew.ts";
