/** Every way the server fails, as a stable code with its HTTP status. */
export const serverErrorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  invalid_credentials: 422,
  http_version_not_supported: 505,
  too_many_requests: 429,
  headers_too_large: 431,
  tls_material_invalid: 422,
  internal: 500,
  not_implemented: 501,
  bad_gateway: 502,
  unavailable: 503,
  store_failed: 500,
  /** A write refused because the disk under the data directory (or PostgreSQL's) is full (store/disk-full.ts). */
  disk_full: 507,
  config_invalid: 400,
} as const;
export type ServerErrorCode = keyof typeof serverErrorStatus;

// The codes whose errors record a stack: failures of the server itself, logged with it.
const stackedCodes: ReadonlySet<ServerErrorCode> = new Set(["internal", "store_failed"]);

/** What an error may say beside its message: the invalid field, what to do, more facts. */
export interface ServerErrorOptions {
  readonly cause?: unknown;
  readonly details?: Record<string, unknown>;
  /** The request field at fault, as a dotted path (`Password`, `tls.cert`). */
  readonly field?: string;
  /** What the caller should do about it, in one sentence. */
  readonly fix?: string;
}

/**
 * The server package's single error type. `message` is safe to show to the caller (it never
 * holds secrets); `field` names the invalid input and `fix` says what to do. On the wire every
 * error is `{code, message, details?, field?, fix?}`.
 *
 * @example
 * throw new ServerError("not_found", "Environment 7 does not exist.");
 */
export class ServerError extends Error {
  override readonly name = "ServerError";
  readonly code: ServerErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly field: string | undefined;
  readonly fix: string | undefined;

  constructor(code: ServerErrorCode, message: string, options?: ServerErrorOptions) {
    // Only an internal failure's stack is ever read (the log prints it); every other error is
    // an answer its code and message describe whole. In a busy server V8 took ~75 µs to record
    // a stack (it rebuilds the optimised frames), paid by every refusal of a connect storm and
    // by bench:handshakes' 404 (issue 20): the others record none.
    const stackTraceLimit = Error.stackTraceLimit;
    if (!stackedCodes.has(code)) Error.stackTraceLimit = 0;
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.code = code;
    this.details = options?.details;
    this.field = options?.field;
    this.fix = options?.fix;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return serverErrorStatus[this.code];
  }
}
