import { STATUS_CODES, type OutgoingHttpHeaders } from "node:http";
import { ProtocolError, closingResponse } from "@pier/protocol";
import { HTTPException } from "hono/http-exception";
import { ServerError } from "../errors.ts";
import { diskFullError, isDiskFull } from "../store/disk-full.ts";

/**
 * The one shape of every HTTP error answer, on every transport (API, Docker proxy, edge routes,
 * static UI, raw upgrade answers). `message` says what is wrong (Docker's CLI and Portainer
 * scripts read it), `fix` what to do, `field` the request field at fault as a dotted path,
 * `details` more facts as an object.
 */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly field?: string;
  readonly fix?: string;
}

/** An error answer: its status, its body, and whether it is the server's own failure (log it). */
export interface ErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
  /** True for errors no caller caused: the body says only "see the server log"; log the error. */
  readonly internal: boolean;
}

/** What an unknown error tells a client: never its message, stack or a file path. */
const internalBody: ErrorBody = { code: "internal", message: "The server failed to handle this request; see the server log." };

/** Codes for statuses raised by the HTTP framework itself (Hono's `HTTPException`). */
const statusCodes: Readonly<Record<number, string>> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
  431: "headers_too_large",
  503: "unavailable",
};

/**
 * Turns any error into the one error answer. `ServerError` keeps its code, status, message,
 * field, fix and details; a `ProtocolError` (malformed protocol data) is a 400 with its code;
 * the HTTP framework's own client errors (malformed JSON, a body over its cap) keep their
 * status. Anything else is `500 {code: "internal"}` with a message that only points at the
 * server log: no stack trace, file path or internal message reaches a client.
 *
 * @example
 * const { status, body } = errorBody(new ServerError("not_found", "Environment 7 does not exist."));
 * // 404 {code: "not_found", message: "Environment 7 does not exist."}
 */
export function errorBody(error: unknown): ErrorAnswer {
  // A file write of the data directory (not the store, which names its disk) on a full disk.
  if (!(error instanceof ServerError) && isDiskFull(error)) return errorBody(diskFullError({ dataDir: "(--data)" }, error));
  if (error instanceof ServerError) {
    // Their messages may name files or database internals: the log has them, the client not.
    if (error.code === "internal" || error.code === "store_failed") return { status: error.status, body: internalBody, internal: true };
    const body: ErrorBody = {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(error.fix === undefined ? {} : { fix: error.fix }),
    };
    return { status: error.status, body, internal: false };
  }
  if (error instanceof ProtocolError) return { status: 400, body: { code: error.code, message: error.message }, internal: false };
  if (error instanceof HTTPException && error.status >= 400 && error.status < 500) {
    const code = statusCodes[error.status] ?? "bad_request";
    return { status: error.status, body: { code, message: error.message || STATUS_CODES[error.status] || "Bad request" }, internal: false };
  }
  return { status: 500, body: internalBody, internal: true };
}

/**
 * The headers an error answer carries beside its body: `Retry-After` (whole seconds, at least 1)
 * when the error says when to come back (`details.retryAfterSeconds`: the database unreachable,
 * a busy server, a deferred renewal), so scripts and proxies that honour it wait that long.
 *
 * @example
 * retryAfterHeaders(errorBody(databaseUnreachable(cause))); // {"retry-after": "5"}
 */
export function retryAfterHeaders(answer: ErrorAnswer): Record<string, string> {
  const seconds = answer.body.details?.["retryAfterSeconds"];
  return typeof seconds === "number" && Number.isFinite(seconds) ? { "retry-after": String(Math.max(1, Math.ceil(seconds))) } : {};
}

/** The answer's JSON text. */
export function errorText(answer: ErrorAnswer): string {
  return JSON.stringify(answer.body);
}

/** The part of an HTTP/1.1 or HTTP/2 compat response an error answer needs. */
export interface ErrorResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(): unknown;
  end(chunk: string): unknown;
}

/**
 * Answers `error` on a Node response (HTTP/1.1 or HTTP/2 compat) in the one shape, with
 * `headers` beside the JSON content type. Returns the answer so the caller can log it.
 */
export function sendError(res: ErrorResponse, error: unknown, headers: OutgoingHttpHeaders = {}, head = false): ErrorAnswer {
  const answer = errorBody(error);
  const text = errorText(answer);
  res.writeHead(answer.status, { ...retryAfterHeaders(answer), ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  if (head) res.end();
  else res.end(text);
  return answer;
}

/**
 * A complete HTTP/1.1 error response that closes the connection, in the one shape: for a
 * connection that asked to be upgraded and is answered on the raw socket.
 */
export function rawErrorResponse(error: unknown): string {
  const answer = errorBody(error);
  return closingResponse(answer.status, STATUS_CODES[answer.status] ?? "Error", "application/json", errorText(answer));
}
