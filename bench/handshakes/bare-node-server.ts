/**
 * The floor of Node's own TLS, for bench/handshakes.ts --bare-node: a server with Pier's TLS
 * profile, the same certificate and client CA, `requestCert` and `rejectUnauthorized`, and
 * nothing else. No routing, no logging. What Pier spends above this per handshake is Pier's.
 *
 * - `tls` (HTTP/1.1 runs): a `tls.Server` answering each verified connection's first bytes with
 *   a fixed `404` and closing; no HTTP parser.
 * - `http2` (--http2 runs): Node's own `http2.createSecureServer` with Pier's session settings
 *   (windows, header limits), answering every stream `404`: what any Node HTTP/2 server pays for
 *   a session (nghttp2 set-up, SETTINGS, the stream's objects), which Pier cannot go below.
 *
 *   node bench/handshakes/bare-node-server.ts PORT CA.crt SERVER.crt SERVER.key [tls|http2]
 *
 * Prints "listening" once it accepts connections; ends on SIGTERM.
 */
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import { tlsProfile } from "@pier/pki";

const [port, ca, cert, key, kind = "tls"] = process.argv.slice(2);
if (!port || !ca || !cert || !key || (kind !== "tls" && kind !== "http2")) {
  console.error("Usage: node bench/handshakes/bare-node-server.ts PORT CA.crt SERVER.crt SERVER.key [tls|http2]");
  process.exit(2);
}
const options = { ...tlsProfile, ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key), requestCert: true, rejectUnauthorized: true };
const answer = Buffer.from("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", "latin1");

function tlsServer(): tls.Server {
  const server = tls.createServer({ ...options, ALPNProtocols: ["http/1.1"] }, (socket) => {
    socket.on("error", () => undefined);
    socket.once("data", () => socket.end(answer));
  });
  server.on("tlsClientError", () => undefined);
  return server;
}

function http2Server(): http2.Http2SecureServer {
  // Pier's settings (packages/server/src/tls/tls-front.ts): the same windows and limits.
  // allowHTTP1 as Pier: the same ALPN list, so a client without a certificate is refused for that.
  const server = http2.createSecureServer({ ...options, allowHTTP1: true, maxSessionMemory: 32, settings: { initialWindowSize: 1024 * 1024, maxConcurrentStreams: 128, maxHeaderListSize: 16 * 1024 } });
  server.on("session", (session) => session.setLocalWindowSize(8 * 1024 * 1024));
  server.on("request", (req, res) => {
    if (req.httpVersionMajor === 1) res.writeHead(404, { "content-length": 0, connection: "close" }).end();
  });
  server.on("stream", (stream) => {
    stream.on("error", () => undefined);
    stream.respond({ ":status": 404 }, { endStream: true });
  });
  server.on("tlsClientError", () => undefined);
  return server;
}

const server = kind === "http2" ? http2Server() : tlsServer();
server.listen({ port: Number(port), host: "127.0.0.1", backlog: 4096 }, () => console.log("listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
