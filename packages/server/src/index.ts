/** `@pier/server`: the Pier server. */
export { startServer, type AdmissionLimits, type DrainSummary, type ServerConfig, type RunningServer, type ServerLogLevel } from "./server.ts";
export { ServerError, type ServerErrorCode } from "./errors.ts";
export { ProxySources } from "./tls/proxy-protocol.ts";
export { canonicalPath, maxPathBytes, type CanonicalTarget } from "./http/canonical-path.ts";
export { copyStore, type CopyStoreOptions, type CopyStoreResult } from "./store/store-copy.ts";
export { SqliteStore } from "./store/sqlite-store.ts";
export { createServerLog, currentRequestId, logFormats, logLevels, type LogFormat, type LogLevel } from "./logging/index.ts";
export { verifyAuditExport, verifyStoredAuditChain, type AuditVerification } from "./store/audit-verify.ts";
