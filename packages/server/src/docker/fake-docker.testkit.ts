import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

/** A request the fake engine received. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

/**
 * A stand-in for a Docker Engine on loopback TCP, enough to test the tunnel and the proxy:
 *
 * - `GET /_ping` answers `OK` (as Docker does);
 * - `GET /inspect…` answers the request it saw (method, url, headers) as JSON;
 * - `POST /echo` streams the request body back;
 * - `GET /containers/<id>/logs?follow=1` writes a line every 20 ms until the client goes away,
 *   which `logsClosed` reports;
 * - `GET /big?bytes=N` answers N bytes;
 * - `POST /containers/<id>/attach` with `Upgrade: tcp` answers `101 UPGRADED` as Docker does,
 *   then echoes what it reads in capitals, and writes `bye` and closes when its input ends.
 */
export interface FakeDocker extends AsyncDisposable {
  readonly port: number;
  readonly requests: SeenRequest[];
  /** Resolves when a follow-logs request has been closed by its client. */
  readonly logsClosed: Promise<void>;
}

/** Starts a fake Docker Engine on 127.0.0.1. */
export async function startFakeDocker(): Promise<FakeDocker> {
  const requests: SeenRequest[] = [];
  let logsClosed!: () => void;
  const closed = new Promise<void>((resolve) => (logsClosed = resolve));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://docker");
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    if (url.pathname === "/_ping") {
      res.writeHead(200, { "content-type": "text/plain", "api-version": "1.47" }).end("OK");
    } else if (url.pathname.startsWith("/inspect")) {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers })));
    } else if (url.pathname === "/echo" && req.method === "POST") {
      res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/octet-stream" });
      req.pipe(res);
    } else if (/^\/containers\/[^/]+\/logs$/.test(url.pathname)) {
      res.writeHead(200, { "content-type": "text/plain" });
      let line = 0;
      const timer = setInterval(() => res.write(`line ${++line}\n`), 20);
      res.on("close", () => {
        clearInterval(timer);
        logsClosed();
      });
    } else if (url.pathname === "/big") {
      const bytes = Number(url.searchParams.get("bytes") ?? 0);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes });
      res.end(Buffer.alloc(bytes, 0x61));
    } else {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: `page not found: ${req.url}` }));
    }
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    if (!/^\/containers\/[^/]+\/attach(\?|$)/.test(req.url ?? "")) {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    socket.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    const echo = (chunk: Buffer) => socket.write(chunk.toString("latin1").toUpperCase());
    if (head.length > 0) echo(head);
    socket.on("data", echo);
    socket.on("end", () => socket.end("bye\n"));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    logsClosed: closed,
    [Symbol.asyncDispose]: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
