import type { Server } from "node:tls";

/**
 * Makes each TLS socket `server` accepts copy its ALPN protocol list into a buffer of its own
 * (12 bytes for "h2, http/1.1") rather than into Node's shared 64 KiB `Buffer` pool.
 *
 * Every server-side `TLSSocket` copies `server.ALPNProtocols` when it is made; a Uint8Array is
 * copied with `Buffer.from`, which slices Node 24's pool (`Buffer.poolSize` 65,536). The copy
 * lives as long as the connection, so a long-lived edge session pinned a whole 64 KiB slab that
 * shorter-lived buffers had shared with it: in the 15,000-agent benchmark's heap snapshot, 13,275
 * sessions held 1,067 slabs, 66.7 MiB (5.1 KiB per session). An `ArrayBufferView` that is not a
 * Uint8Array (a DataView) is copied into an ArrayBuffer of its exact size instead (Node's
 * `convertALPNProtocols`); the server offers the same protocols.
 *
 * @example
 * const server = http2.createSecureServer({ allowHTTP1: true, ... });
 * copyAlpnPerConnection(server);
 */
export function copyAlpnPerConnection(server: Server): void {
  const holder = server as Server & { ALPNProtocols?: unknown };
  const protocols = holder.ALPNProtocols;
  if (protocols instanceof Uint8Array) holder.ALPNProtocols = new DataView(protocols.buffer, protocols.byteOffset, protocols.byteLength);
}
