/**
 * Ways the agent fails. `config_invalid` stops it at start with a message, not a stack trace.
 * `docker_failed`: Docker answered but refused an operation (a pull, a create), with its reason.
 * `stack_invalid`: an edge stack's compose file the runtime cannot deploy (names the path).
 */
export type AgentErrorCode = "config_invalid" | "state_invalid" | "connect_failed" | "refused" | "server_untrusted" | "docker_unavailable" | "docker_failed" | "stack_invalid";

/** A connection problem in an operator's words: a stable code, the cause and the fix. */
export interface Explained {
  readonly code: string;
  readonly cause: string;
  readonly fix: string;
}

/** The agent package's single error type. */
export class AgentError extends Error {
  override readonly name = "AgentError";
  readonly code: AgentErrorCode;
  /** Cause and fix of a connection failure, for the log. */
  readonly explained: Explained | undefined;
  /** How long the server asked the agent to wait before trying again (`Retry-After`), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown; explained?: Explained; retryAfterMs?: number }) {
    super(message, options);
    this.code = code;
    this.explained = options?.explained;
    this.retryAfterMs = options?.retryAfterMs;
  }
}
