import { chmodSync, lstatSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import { request } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { closingResponse, headerValue, relayHeaders, requestHead } from "@pier/protocol";
import { canonicalPath, type ServerError } from "@pier/server";
import { CliError } from "../errors.ts";
import type { ListenAddress } from "./listen-address.ts";
import type { ServerConnection } from "./server-connection.ts";

/** What the local proxy needs. */
export interface LocalDockerProxyOptions {
  readonly server: ServerConnection;
  readonly environmentId: number;
  readonly listen: ListenAddress;
  readonly log: (level: "debug" | "warn", message: string) => void;
}

/** A listening `pier docker-proxy`. */
export interface LocalDockerProxy extends AsyncDisposable {
  /** Where it listens (with the port the system picked for port 0). */
  readonly address: ListenAddress;
  close(): Promise<void>;
}

// A local client's own credentials never go to the server: ours replace them.
const localOnly: ReadonlySet<string> = new Set(["host", "authorization", "x-api-key", "cookie"]);

/** An error in Docker's shape (`message`, which the docker CLI shows) and Pier's (`code`, `fix`). */
interface ProxyError {
  readonly status: 400 | 502;
  readonly body: { readonly code: "bad_request" | "bad_gateway"; readonly message: string; readonly fix?: string };
}

function badGateway(message: string): ProxyError {
  return { status: 502, body: { code: "bad_gateway", message: `pier docker-proxy: ${message}` } };
}

function answerJson(res: ServerResponse, error: ProxyError): void {
  const body = JSON.stringify(error.body);
  res.writeHead(error.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
}

/** The same answer on a raw connection that asked to be upgraded. */
function rawAnswer(error: ProxyError): string {
  return closingResponse(error.status, error.status === 400 ? "Bad Request" : "Bad Gateway", "application/json", JSON.stringify(error.body));
}

/**
 * The Docker Engine API path of a local request, or a 400 saying why it is not forwarded: only
 * origin-form paths (`/v1.47/containers/json?…`) go to the server, never an absolute URL
 * (`GET http://host/…`), an authority (`CONNECT host:443`), `*`, dot segments or encoded
 * slashes, which could resolve to another route than the device's Docker Engine. The check is
 * the server's own (`canonicalPath`), so what passes here is what the server routes.
 */
export function localTarget(url: string | undefined): { readonly path: string } | ProxyError {
  try {
    return { path: canonicalPath(url).url };
  } catch (error) {
    const refusal = error as ServerError;
    return { status: 400, body: { code: "bad_request", message: `pier docker-proxy forwards Docker Engine API paths only: ${refusal.message}`, ...(refusal.fix ? { fix: refusal.fix } : {}) } };
  }
}

/**
 * Joins a local connection and the server's: each end's bytes and half-close pass to the other
 * (`docker exec -i` ends stdin and still reads); when one closes for good, the other goes too.
 */
function join(local: Duplex, remote: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const closed = () => --open === 0 && resolve();
    for (const [from, to] of [[local, remote], [remote, local]] as const) {
      from.once("close", () => {
        if (!from.readableEnded) to.destroy();
        closed();
      });
      from.pipe(to);
    }
  });
}

/** Removes a stale socket file; refuses a live one or a path that is not a socket. */
async function claimSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new CliError("failed", `--listen ${path} exists and is not a socket; choose another path.`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new CliError("failed", `--listen ${path}: another process is listening on this socket (another pier docker-proxy?); stop it or choose another path.`);
  rmSync(path, { force: true });
}

/**
 * Serves one environment's Docker Engine API on a local socket, so the real docker CLI works
 * against an edge device: each request goes to `/api/endpoints/{id}/docker/…` on the Pier
 * server with the operator's credentials, and upgrades (attach, exec) get their own TLS
 * connection to the server, spliced to the local one. A Unix socket is created with mode 0600.
 *
 * @example
 * await using proxy = await startLocalDockerProxy({ server, environmentId: 3, listen: { kind: "unix", path: "/tmp/edge-3.sock" }, log });
 * // DOCKER_HOST=unix:///tmp/edge-3.sock docker ps
 */
export async function startLocalDockerProxy(options: LocalDockerProxyOptions): Promise<LocalDockerProxy> {
  const { server, log } = options;
  const prefix = `/api/endpoints/${options.environmentId}/docker`;
  const upgraded = new Set<Duplex>();

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const target = localTarget(req.url);
    const path = "path" in target ? target.path : (req.url ?? "");
    let outcome = "failed";
    const logOutcome = () => log("debug", `${req.method} ${path} → ${outcome} in ${Date.now() - started} ms`);
    if (!("path" in target)) {
      outcome = `${target.status} ${target.body.message}`;
      res.on("close", logOutcome);
      answerJson(res, target);
      return;
    }
    let credentials: Record<string, string>;
    try {
      credentials = await server.credentialHeaders();
    } catch (error) {
      outcome = "no session";
      res.on("close", logOutcome);
      answerJson(res, badGateway((error as Error).message));
      return;
    }
    const upstream = request(server.requestOptions(req.method ?? "GET", prefix + path, { ...relayHeaders(req.headers, localOnly), ...credentials }), (response) => {
      outcome = String(response.statusCode);
      res.writeHead(response.statusCode ?? 502, relayHeaders(response.headers) as OutgoingHttpHeaders);
      // Headers now, body when it comes: `docker run` waits for the headers of `wait`.
      res.flushHeaders();
      response.pipe(res);
      response.on("error", () => res.destroy());
    });
    upstream.on("error", (error) => {
      if (res.headersSent) res.destroy();
      else answerJson(res, badGateway(server.unreachable(error).message));
    });
    res.on("close", () => {
      // The docker CLI gave up (Ctrl-C on `docker logs -f`): stop the stream at the device.
      if (!res.writableFinished) upstream.destroy();
      logOutcome();
    });
    req.pipe(upstream);
  }

  async function takeOver(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = Date.now();
    upgraded.add(socket);
    socket.on("error", () => undefined);
    let outcome = "failed";
    const target = localTarget(req.url);
    if (!("path" in target)) {
      socket.end(rawAnswer(target));
      upgraded.delete(socket);
      log("debug", `${req.method} ${req.url} (upgrade) → ${target.status} ${target.body.message}`);
      return;
    }
    try {
      const credentials = await server.credentialHeaders();
      const headers = { ...relayHeaders(req.headers, localOnly), host: server.url.host, connection: "Upgrade", upgrade: headerValue(req.headers, "upgrade") ?? "tcp", ...credentials };
      const lead = requestHead(req.method ?? "POST", prefix + target.path, headers);
      const remote = await server.connectRaw();
      remote.on("error", () => undefined);
      remote.write(lead);
      if (head.length > 0) remote.write(head);
      upgraded.add(remote);
      await join(socket, remote);
      upgraded.delete(remote);
      outcome = "closed";
    } catch (error) {
      socket.end(rawAnswer(badGateway((error as Error).message)));
    } finally {
      upgraded.delete(socket);
      log("debug", `${req.method} ${req.url} (upgrade) → ${outcome} in ${Date.now() - started} ms`);
    }
  }

  const http = createServer((req, res) => void forward(req, res));
  http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => void takeOver(req, socket, head));
  // `CONNECT host:port` (authority-form) is a request to tunnel elsewhere: never ours to serve.
  http.on("connect", (req: IncomingMessage, socket: Socket) => {
    const target = localTarget(req.url);
    socket.end(rawAnswer("path" in target ? { status: 400, body: { code: "bad_request", message: "pier docker-proxy does not tunnel CONNECT requests; it serves the Docker Engine API." } } : target));
  });
  // Streams (logs -f, events, a long pull) may stay quiet for minutes.
  http.requestTimeout = 0;
  http.headersTimeout = 60_000;
  http.keepAliveTimeout = 60_000;

  const listen = options.listen;
  if (listen.kind === "unix") await claimSocketPath(listen.path);
  const previousUmask = listen.kind === "unix" ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      const done = () => {
        http.off("error", reject);
        resolve();
      };
      if (listen.kind === "unix") http.listen(listen.path, done);
      else http.listen(listen.port, listen.host, done);
    });
  } catch (error) {
    throw new CliError("failed", `Cannot listen on ${listen.kind === "unix" ? listen.path : `${listen.host}:${listen.port}`}: ${(error as Error).message}.`, { cause: error });
  } finally {
    if (previousUmask !== undefined) process.umask(previousUmask);
  }
  if (listen.kind === "unix") chmodSync(listen.path, 0o600);
  http.on("error", (error) => log("warn", `listener: ${error.message}`));
  const address: ListenAddress = listen.kind === "unix" ? listen : { ...listen, port: (http.address() as AddressInfo).port };

  const close = async () => {
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
    for (const socket of upgraded) socket.destroy();
    await closed;
    server.close();
    if (listen.kind === "unix") rmSync(listen.path, { force: true });
  };
  return { address, close, [Symbol.asyncDispose]: close };
}
