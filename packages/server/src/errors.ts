/** Every way the server fails, as a stable code with its HTTP status. */
export const serverErrorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_many_requests: 429,
  tls_material_invalid: 422,
  internal: 500,
  not_implemented: 501,
  bad_gateway: 502,
  unavailable: 503,
  store_failed: 500,
  config_invalid: 400,
} as const;
export type ServerErrorCode = keyof typeof serverErrorStatus;

/**
 * The server package's single error type. `message` is safe to show to the caller (it never
 * holds secrets); `details` may name the invalid field.
 *
 * @example
 * throw new ServerError("not_found", "Environment 7 does not exist.");
 */
export class ServerError extends Error {
  override readonly name = "ServerError";
  readonly code: ServerErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ServerErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options);
    this.code = code;
    this.details = options?.details;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return serverErrorStatus[this.code];
  }
}
