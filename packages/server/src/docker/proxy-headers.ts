import { STATUS_CODES, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { ServerError } from "../errors.ts";

// Hop-by-hop headers (RFC 9110 §7.6.1) and what HTTP/2 forbids (RFC 9113 §8.2.2) never cross
// the proxy; credentials meant for Pier never reach the device.
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings", "expect"]);

/** Request headers meant for Pier alone. */
export const pierOnlyHeaders: ReadonlySet<string> = new Set(["authorization", "x-api-key", "cookie", "host"]);

/** One header's value, with repeated headers joined as HTTP does. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * Drops hop-by-hop headers, those the `Connection` header names, HTTP/2 pseudo-headers and
 * `drop`.
 *
 * @example
 * const upstream = forwardable(req.headers, pierOnlyHeaders);
 */
export function forwardable(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): OutgoingHttpHeaders {
  const named = new Set((header(headers, "connection") ?? "").split(",").map((name) => name.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || hopByHop.has(name) || drop.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

// Header values that would end the line or the head are refused, not written (request splitting).
const unsafeValue = /[\r\n\0]/;

/**
 * An HTTP/1.1 request head, for a connection the proxy writes itself (upgrades). Throws
 * `bad_request` for a header value holding a line break or a malformed request line.
 *
 * @example
 * tunnel.write(requestHead("POST", "/containers/x/attach?stream=1", { host: "docker", connection: "Upgrade", upgrade: "tcp" }));
 */
export function requestHead(method: string, path: string, headers: OutgoingHttpHeaders): string {
  if (!/^[A-Z]{1,20}$/.test(method) || /[\s\0]/.test(path)) throw new ServerError("bad_request", "The request line cannot be forwarded.");
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one === undefined) continue;
      if (unsafeValue.test(String(one))) throw new ServerError("bad_request", `Header ${name} holds a line break and cannot be forwarded.`);
      head += `${name}: ${String(one)}\r\n`;
    }
  }
  return `${head}\r\n`;
}

/** Docker's error shape, `{"message": …}`, with the details as a JSON string when there are any. */
export function dockerErrorBody(error: ServerError): string {
  return JSON.stringify({ message: error.message, ...(error.details ? { details: JSON.stringify(error.details) } : {}) });
}

/**
 * A complete HTTP/1.1 error response with Docker's error shape (`{"message": …}`), for a
 * connection that was upgraded before the proxy could answer through Node's response object.
 */
export function rawErrorResponse(error: ServerError): string {
  const body = dockerErrorBody(error);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
