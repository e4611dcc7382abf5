import http, { type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { ProtocolError, headerValue, relayHeaders, requestHead } from "@pier/protocol";
import type { Http2ServerRequest } from "node:http2";
import type { Duplex, Writable } from "node:stream";
import type { TunnelOpener } from "../cluster/cluster-tunnels.ts";
import { dockerPermission, requirePermission } from "../auth/route-permissions.ts";
import { ServerError } from "../errors.ts";
import type { Store, User } from "../store/store.ts";
import { canonicalPath } from "../http/canonical-path.ts";
import { type Credentials, credentialsOf } from "../api/authenticate.ts";
import { rawErrorResponse, sendError } from "../http/error-response.ts";

type Request = IncomingMessage | Http2ServerRequest;

/** The part of an HTTP/1.1 or HTTP/2 compat response the proxy uses. */
export interface ProxyResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  flushHeaders(): unknown;
  end(chunk?: string): unknown;
  destroy(): unknown;
  on(event: "close" | "finish", listener: () => void): unknown;
  readonly headersSent: boolean;
}

/** What the Docker proxy needs from the rest of the server. */
export interface DockerProxyOptions {
  readonly store: Pick<Store, "environments">;
  /** Whether a session of the device is held (by this server, or another replica: `ClusterTunnels.isReachable`). */
  readonly isReachable: (environmentId: number) => Promise<boolean>;
  /** Opens tunnels: the local `TunnelBroker`, or `ClusterTunnels` across replicas. */
  readonly tunnels: TunnelOpener;
  /** Resolves the caller (with the role they act with) from the request's credentials, or throws `unauthorized` (as the API does). */
  readonly authenticate: (credentials: Credentials) => Promise<User>;
  /** Whether the caller's team scope holds the environment (auth/environment-scope.ts); absent: every environment. */
  readonly inScope?: (user: User, environmentId: number) => Promise<boolean>;
  /** Freshest check-in time of an environment (memory first, then the store). */
  readonly lastCheckIn: (environmentId: number, stored: Date | null) => Date | null;
  readonly log: (level: "debug" | "error", message: string) => void;
  /** How long a device has to open a tunnel (default 5000 ms). */
  readonly tunnelTimeoutMs?: number;
}

/** The two entry points of the Docker proxy; each returns false for paths that are not its own. */
export interface DockerProxy {
  /** Ordinary requests, HTTP/1.1 or HTTP/2. */
  request(req: Request, res: ProxyResponse): boolean;
  /** HTTP/1.1 requests that take over the connection (`Upgrade: tcp`: attach, exec start). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

/** Request headers meant for Pier alone: they never reach a device. */
const pierOnlyHeaders: ReadonlySet<string> = new Set(["authorization", "x-api-key", "cookie", "host"]);

/** `/api/endpoints/<id>/docker` followed by the Docker Engine API path and query. */
const routePattern = /^\/api\/endpoints\/([0-9]{1,15})\/docker(?=\/|\?|$)(.*)$/s;

/**
 * The environment and Docker Engine path of a proxy request, `undefined` when the path is not
 * the proxy's, or a `bad_request` error when it is but would resolve elsewhere. The server
 * hands over canonical paths (http/canonical-path.ts); the check is repeated here so the
 * proxy never forwards a path with dot segments or encoded slashes, whoever calls it.
 */
function route(url: string | undefined): { environmentId: number; dockerPath: string } | ServerError | undefined {
  const match = routePattern.exec(url ?? "");
  if (!match) return undefined;
  try {
    canonicalPath(url);
  } catch (error) {
    return error as ServerError;
  }
  const rest = match[2] ?? "";
  return { environmentId: Number(match[1]), dockerPath: rest.startsWith("/") ? rest : `/${rest}` };
}

function asServerError(error: unknown): ServerError {
  if (error instanceof ProtocolError) return new ServerError("bad_request", error.message, { cause: error });
  // Anything else is the server's own failure: logged in full, answered as "internal" only.
  return error instanceof ServerError ? error : new ServerError("internal", `Proxying to the device's Docker Engine failed: ${(error as Error).message}.`, { cause: error });
}

/** Resolves when both streams have closed; an error or early close of one destroys the other. */
function splice(client: Duplex, tunnel: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const closed = () => {
      if (--open === 0) resolve();
    };
    client.once("close", () => {
      // Nothing more can reach the client: stop the device's side too.
      if (!tunnel.destroyed) tunnel.destroy(new ServerError("unavailable", "The client went away."));
      closed();
    });
    tunnel.once("close", closed);
    tunnel.once("error", () => client.destroy());
    // Either side's end half-closes the other (`pipe` ends its destination): `docker exec -i`
    // ends stdin and still reads the command's output.
    client.pipe(tunnel);
    tunnel.pipe(client);
  });
}

/**
 * The Docker Engine API of an edge device, at `ANY /api/endpoints/{id}/docker/<path>`: checks the
 * caller (as the API does) and the device, opens a tunnel through the device's session and
 * speaks HTTP/1.1 to its Docker Engine through it, streaming both bodies (so
 * `GET /containers/{id}/logs?follow=1` follows live). It bypasses the Hono app because it
 * streams.
 *
 * HTTP/1.1 requests that take over the connection (`Connection: Upgrade`, which the docker CLI
 * sends for attach and exec) go to `upgrade`: after the same checks, the request head is
 * written to the tunnel and the client's connection is spliced to it, so Docker's own
 * `101 UPGRADED` and the raw stream reach the client unchanged.
 *
 * @example
 * const docker = createDockerProxy({ store, isReachable: (id) => Promise.resolve(edge.isConnected(id)), tunnels, authenticate, lastCheckIn, log });
 * const handler = (req, res) => docker.request(req, res) || api(req, res);
 * const upgradeHandler = (req, socket, head) => docker.upgrade(req, socket, head) || socket.end(notFound);
 */
export function createDockerProxy(options: DockerProxyOptions): DockerProxy {
  async function admit(req: Request, environmentId: number, dockerPath: string): Promise<void> {
    const user = await options.authenticate(credentialsOf(req.method ?? "GET", (name) => headerValue(req.headers, name)));
    // Before the environment is looked up: a refused role learns nothing about it.
    const method = req.method ?? "GET";
    requirePermission(user.role, dockerPermission(method, dockerPath), `${method} /api/endpoints/${environmentId}/docker${dockerPath.split("?")[0] ?? ""}`);
    // Outside the scope the same 404 as for no environment at all: existence is not revealed.
    if (options.inScope !== undefined && !(await options.inScope(user, environmentId))) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`);
    const environment = await options.store.environments.get(environmentId);
    if (!environment) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`);
    if (!environment.userTrusted) {
      throw new ServerError("forbidden", `Environment ${environmentId} ("${environment.name}") is in the waiting room: associate it first (POST /api/endpoints/${environmentId}/edge/trust) to reach its Docker Engine.`);
    }
    if (!(await options.isReachable(environmentId))) {
      const last = options.lastCheckIn(environmentId, environment.lastCheckInAt);
      throw new ServerError(
        "unavailable",
        `Environment ${environmentId} ("${environment.name}") is offline: last check-in ${last ? last.toISOString() : "never"}. Its Docker Engine is reached through the agent's open session; start the agent (session mode, not polling) and retry.`,
      );
    }
  }

  function openTunnel(environmentId: number, signal: AbortSignal): Promise<Duplex> {
    return options.tunnels.open(environmentId, { signal, ...(options.tunnelTimeoutMs === undefined ? {} : { timeoutMs: options.tunnelTimeoutMs }) });
  }

  function logFailure(environmentId: number, error: unknown): void {
    // Refusals and malformed requests are the caller's; only the unexpected is the server's error.
    if (!(error instanceof ServerError || error instanceof ProtocolError)) options.log("error", `docker proxy for environment ${environmentId} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }

  async function proxy(req: Request, res: ProxyResponse, environmentId: number, dockerPath: string): Promise<void> {
    const started = Date.now();
    const method = req.method ?? "GET";
    let outcome = "failed";
    let finished = false;
    let tunnel: Duplex | undefined;
    let upstream: http.ClientRequest | undefined;
    const clientGone = new AbortController();
    res.on("finish", () => (finished = true));
    res.on("close", () => {
      if (finished) return;
      outcome = "client went away";
      const gone = new ServerError("unavailable", "The client went away.");
      clientGone.abort(gone);
      // The tunnel first, with an error: the device resets the stream (CANCEL) and drops its
      // Docker connection at once, which stops a followed log or a long pull.
      tunnel?.destroy(gone);
      upstream?.destroy();
    });
    try {
      await admit(req, environmentId, dockerPath);
      tunnel = await openTunnel(environmentId, clientGone.signal);
      if (clientGone.signal.aborted) {
        tunnel.destroy(clientGone.signal.reason as Error);
        return;
      }
      const pipe = tunnel;
      await new Promise<void>((resolve, reject) => {
        const request = http.request({ createConnection: () => pipe, method, path: dockerPath, headers: { ...(relayHeaders(req.headers, pierOnlyHeaders) as OutgoingHttpHeaders), host: "docker" } }, (response) => {
          outcome = String(response.statusCode ?? 0);
          res.writeHead(response.statusCode ?? 502, relayHeaders(response.headers) as OutgoingHttpHeaders);
          // Docker answers `wait` with its headers at once and the body when the container
          // exits; `docker run` starts the container only after it has seen those headers.
          res.flushHeaders();
          response.pipe(res as unknown as Writable);
          response.on("end", () => resolve());
          response.on("error", (error) => reject(new ServerError("bad_gateway", `The device's Docker Engine stopped in the middle of its answer: ${error.message}.`, { cause: error })));
        });
        upstream = request;
        request.on("error", (error) =>
          reject(error instanceof ServerError ? error : new ServerError("bad_gateway", `The device's Docker Engine did not answer: ${error.message}.`, { cause: error })),
        );
        req.pipe(request);
      });
    } catch (error) {
      if (clientGone.signal.aborted) return;
      const failure = asServerError(error);
      if (res.headersSent) {
        outcome = `${outcome}, cut: ${failure.message}`;
        res.destroy();
      } else {
        outcome = `${failure.status} ${failure.message}`;
        sendError(res, failure);
      }
      logFailure(environmentId, error);
    } finally {
      // The response is complete (or given up): nothing more travels through this tunnel.
      tunnel?.destroy();
      options.log("debug", `docker environment ${environmentId}: ${method} ${dockerPath} → ${outcome} in ${Date.now() - started} ms`);
    }
  }

  async function takeOver(req: IncomingMessage, socket: Duplex, head: Buffer, environmentId: number, dockerPath: string): Promise<void> {
    const started = Date.now();
    const method = req.method ?? "POST";
    let outcome = "failed";
    let tunnel: Duplex | undefined;
    const clientGone = new AbortController();
    // The client may end its side (stdin closed) and still read: its end must not close ours.
    socket.allowHalfOpen = true;
    socket.once("close", () => clientGone.abort(new ServerError("unavailable", "The client went away.")));
    try {
      await admit(req, environmentId, dockerPath);
      const headers = { ...relayHeaders(req.headers, pierOnlyHeaders), host: "docker", connection: "Upgrade", upgrade: headerValue(req.headers, "upgrade") ?? "tcp" };
      const lead = Buffer.concat([Buffer.from(requestHead(method, dockerPath, headers), "latin1"), head]);
      tunnel = await openTunnel(environmentId, clientGone.signal);
      if (clientGone.signal.aborted) {
        tunnel.destroy(clientGone.signal.reason as Error);
        outcome = "client went away";
        return;
      }
      tunnel.write(lead);
      outcome = "spliced";
      await splice(socket, tunnel);
      outcome = "connection closed";
    } catch (error) {
      if (clientGone.signal.aborted) {
        outcome = "client went away";
        return;
      }
      const failure = asServerError(error);
      outcome = `${failure.status} ${failure.message}`;
      socket.end(rawErrorResponse(failure));
      logFailure(environmentId, error);
    } finally {
      tunnel?.destroy();
      options.log("debug", `docker environment ${environmentId}: ${method} ${dockerPath} (upgrade) → ${outcome} in ${Date.now() - started} ms`);
    }
  }

  return {
    request(req, res) {
      const target = route(req.url);
      if (!target) return false;
      if (target instanceof ServerError) sendError(res, target);
      else void proxy(req, res, target.environmentId, target.dockerPath);
      return true;
    },
    upgrade(req, socket, head) {
      const target = route(req.url);
      if (!target) return false;
      if (target instanceof ServerError) socket.end(rawErrorResponse(target));
      else void takeOver(req, socket, head, target.environmentId, target.dockerPath);
      return true;
    },
  };
}
