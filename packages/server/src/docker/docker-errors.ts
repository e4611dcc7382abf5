import { STATUS_CODES } from "node:http";
import type { ServerError } from "../errors.ts";

/** Request headers meant for Pier alone: they never reach a device. */
export const pierOnlyHeaders: ReadonlySet<string> = new Set(["authorization", "x-api-key", "cookie", "host"]);

/** Docker's error shape, `{"message": …}`, with the details as a JSON string when there are any. */
export function dockerErrorBody(error: ServerError): string {
  return JSON.stringify({ message: error.message, ...(error.details ? { details: JSON.stringify(error.details) } : {}) });
}

/**
 * A complete HTTP/1.1 error response in Docker's error shape, for a connection that asked to be
 * upgraded and is answered on the raw socket.
 */
export function rawErrorResponse(error: ServerError): string {
  const body = dockerErrorBody(error);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
