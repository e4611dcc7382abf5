import net from "node:net";

// The client address a PROXY header gave each TCP socket of a listed balancer (tls-front.ts).
const proxied = new WeakMap<object, string>();

/** Something Node hands out for a connection: a TCP or TLS socket, or HTTP/2's proxy of one. */
export type ConnectionSocket = { readonly remoteAddress?: string | undefined } | null | undefined;

/**
 * The address of the client on the other end of `socket`: the one a trusted load balancer sent
 * in its PROXY header (`--proxy-protocol-from`), else the TCP peer's. The one place Pier decides
 * a connection's client address: limits, throttles, logs, audit and the Waiting Room read it
 * through here, never `socket.remoteAddress`.
 *
 * Works on the TCP socket a TLS front accepted, on the TLS socket built over it (HTTP/1.1
 * `req.socket`), and on HTTP/2's `req.socket`, a proxy that forwards reads to the TLS socket.
 *
 * @example
 * const source = clientAddress(req.socket) ?? "unknown";
 */
export function clientAddress(socket: ConnectionSocket): string | undefined {
  if (!socket) return undefined;
  const own = proxied.get(socket);
  if (own !== undefined) return own;
  // A TLS socket made from an accepted TCP socket keeps it as `_parent`.
  const parent = (socket as { _parent?: unknown })._parent;
  if (parent instanceof net.Socket) {
    const given = proxied.get(parent);
    if (given !== undefined) return given;
  }
  return socket.remoteAddress;
}

/** Records the client address a PROXY header gave `socket` (the accepted TCP socket). */
export function setProxiedClientAddress(socket: net.Socket, address: string): void {
  proxied.set(socket, address);
}
