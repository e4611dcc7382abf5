/**
 * The floor of Node's own TLS, for bench/handshakes.ts --bare-node: a `tls.Server` with Pier's
 * TLS profile, the same certificate and client CA, `requestCert` and `rejectUnauthorized`, and
 * nothing else. To each verified connection's first bytes it answers a fixed `404` (HTTP/1.1, or HTTP/2 by ALPN) and closes:
 * no HTTP parser, no routing, no logging. What Pier spends above this per handshake is Pier's.
 *
 *   node bench/handshakes/bare-node-server.ts PORT CA.crt SERVER.crt SERVER.key
 *
 * Prints "listening" once it accepts connections; ends on SIGTERM.
 */
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { tlsProfile } from "@pier/pki";

const [port, ca, cert, key] = process.argv.slice(2);
if (!port || !ca || !cert || !key) {
  console.error("Usage: node bench/handshakes/bare-node-server.ts PORT CA.crt SERVER.crt SERVER.key");
  process.exit(2);
}
const answer = Buffer.from("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", "latin1");
// HTTP/2 (--http2): an empty SETTINGS frame, then HEADERS on stream 1 (END_STREAM | END_HEADERS)
// holding :status 404 from HPACK's static table (index 13).
const h2Answer = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0, 0, 0, 1, 0x1, 0x5, 0, 0, 0, 1, 0x8d]);
const server = tls.createServer({ ...tlsProfile, ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ["h2", "http/1.1"] }, (socket) => {
  socket.on("error", () => undefined);
  socket.once("data", () => socket.end(socket.alpnProtocol === "h2" ? h2Answer : answer));
});
server.on("tlsClientError", () => undefined);
server.listen({ port: Number(port), host: "127.0.0.1", backlog: 4096 }, () => console.log("listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
