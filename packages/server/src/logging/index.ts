/** The server's log lines (`--log-format`) and API request ids. */
export { createServerLog, logFormats, logLevels, type LogFormat, type LogLevel, type ServerLogOptions } from "./server-log.ts";
export { currentRequestId, maxRequestIdLength, requestIdOf, requestIds } from "./request-id.ts";
export { requestLog } from "./request-log.ts";
