import { STATUS_CODES } from "node:http";
import { closingResponse } from "@pier/protocol";
import type { ServerError } from "../errors.ts";

/** Docker's error shape, `{"message": …}`, with the details as a JSON string when there are any. */
export function dockerErrorBody(error: ServerError): string {
  return JSON.stringify({ message: error.message, ...(error.details ? { details: JSON.stringify(error.details) } : {}) });
}

/**
 * A complete HTTP/1.1 error response in Docker's error shape, for a connection that asked to be
 * upgraded and is answered on the raw socket.
 */
export function rawErrorResponse(error: ServerError): string {
  return closingResponse(error.status, STATUS_CODES[error.status] ?? "Error", "application/json", dockerErrorBody(error));
}
