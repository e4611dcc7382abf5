/**
 * The floor of a check-in in Node, for bench/fleet-simulator.ts --bare-node: Node's own HTTP/2
 * mTLS server with Pier's TLS profile and session settings, speaking just enough of the session
 * protocol for the simulated agents (docs/protocol.md "Frames"): the session stream answers 200,
 * a hello gets a welcome, each heartbeat an ack. Every line is parsed as JSON and every answer
 * written as one, as any JSON-lines protocol must; nothing else: no validation, no store, no
 * audit, no connection tracking, no limits. This is not a server anyone should run. What Pier
 * spends per check-in or per connect above it is Pier's own.
 *
 *   node bench/fleet/bare-edge-server.ts PORT CA.crt SERVER.crt SERVER.key INTERVAL_SECONDS
 *
 * Prints "listening" once it accepts connections; ends on SIGTERM.
 */
import { readFileSync } from "node:fs";
import http2, { type ServerHttp2Stream } from "node:http2";
import { tlsProfile } from "@pier/pki";
import { edgePaths } from "@pier/protocol";

const [port, ca, cert, key, interval] = process.argv.slice(2);
if (!port || !ca || !cert || !key || !interval) {
  console.error("Usage: node bench/fleet/bare-edge-server.ts PORT CA.crt SERVER.crt SERVER.key INTERVAL_SECONDS");
  process.exit(2);
}
const checkinIntervalSeconds = Number(interval);
let environments = 0;

function serveSession(stream: ServerHttp2Stream): void {
  stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      const frame = JSON.parse(pending.slice(0, newline)) as { type?: string; seq?: number };
      pending = pending.slice(newline + 1);
      if (frame.type === "heartbeat") stream.write(`${JSON.stringify({ type: "ack", seq: frame.seq })}\n`);
      else if (frame.type === "hello") stream.write(`${JSON.stringify({ type: "welcome", environmentId: ++environments, status: "associated", checkinIntervalSeconds })}\n`);
    }
  });
}

// Pier's settings (packages/server/src/tls/tls-front.ts): the same windows and limits.
const server = http2.createSecureServer({
  ...tlsProfile,
  ca: readFileSync(ca),
  cert: readFileSync(cert),
  key: readFileSync(key),
  requestCert: true,
  rejectUnauthorized: true,
  maxSessionMemory: 32,
  settings: { initialWindowSize: 1024 * 1024, maxConcurrentStreams: 128, maxHeaderListSize: 16 * 1024 },
});
server.on("session", (session) => session.setLocalWindowSize(8 * 1024 * 1024));
server.on("stream", (stream, headers) => {
  stream.on("error", () => undefined);
  if (headers[":path"] === edgePaths.session) serveSession(stream);
  else stream.respond({ ":status": 404 }, { endStream: true });
});
server.on("tlsClientError", () => undefined);
server.listen({ port: Number(port), host: "127.0.0.1", backlog: 4096 }, () => console.log("listening"));
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  // Sessions the agents keep open would hold close() forever.
  setTimeout(() => process.exit(0), 2000).unref();
});
