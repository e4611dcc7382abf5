import { ProtocolError } from "./errors.ts";

/** HTTP headers as Node delivers and accepts them, without depending on Node's types. */
export type HttpHeaders = Record<string, string | number | readonly string[] | undefined>;

// Hop-by-hop headers (RFC 9110 §7.6.1) and what HTTP/2 forbids (RFC 9113 §8.2.2) never cross
// a relay: the Docker proxy on the server and `pier docker-proxy` both drop them.
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings", "expect"]);

/** One header's value, with repeated headers joined as HTTP does. */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === "object" ? value.join(", ") : String(value);
}

/**
 * The headers a relay passes on: without hop-by-hop headers, those the `Connection` header
 * names, HTTP/2 pseudo-headers, and the lower-case names in `drop`.
 *
 * @example
 * const upstream = relayHeaders(req.headers, new Set(["authorization", "host"]));
 */
export function relayHeaders(headers: HttpHeaders, drop: ReadonlySet<string> = new Set()): HttpHeaders {
  const named = new Set((headerValue(headers, "connection") ?? "").split(",").map((name) => name.trim().toLowerCase()));
  const out: HttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || hopByHop.has(name) || drop.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * An HTTP/1.1 request head (request line, headers, blank line), for a relay that writes a
 * connection itself: an upgrade (`docker attach`, `docker exec`) is spliced byte for byte after
 * it. Throws `http_head_invalid` for a method, path or header that would not survive the trip
 * (a line break in a value would let a caller smuggle a second request).
 *
 * @example
 * tunnel.write(requestHead("POST", "/containers/web/attach?stream=1", { host: "docker", connection: "Upgrade", upgrade: "tcp" }));
 */
export function requestHead(method: string, path: string, headers: HttpHeaders): string {
  if (!token.test(method)) throw new ProtocolError("http_head_invalid", `The method ${JSON.stringify(method)} cannot be relayed.`);
  if (!path.startsWith("/") || /[\s\0]/.test(path)) throw new ProtocolError("http_head_invalid", `The path ${JSON.stringify(path)} cannot be relayed.`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (!token.test(name)) throw new ProtocolError("http_head_invalid", `The header name ${JSON.stringify(name)} cannot be relayed.`);
    for (const one of typeof value === "object" ? value : [String(value)]) {
      if (/[\r\n\0]/.test(one)) throw new ProtocolError("http_head_invalid", `Header ${name} holds a line break and cannot be relayed.`);
      head += `${name}: ${one}\r\n`;
    }
  }
  return `${head}\r\n`;
}

/**
 * A complete HTTP/1.1 response that closes the connection, for a relay that answers on a raw
 * socket (a refused upgrade, plaintext sent to a TLS port).
 *
 * @example
 * socket.end(closingResponse(502, "Bad Gateway", "application/json", JSON.stringify({ message })));
 */
export function closingResponse(status: number, reason: string, contentType: string, body: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: ${contentType}\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n\r\n${body}`;
}
