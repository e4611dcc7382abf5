import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Duplex, Writable } from "node:stream";
import type { EdgeService } from "../edge/edge-service.ts";
import type { TunnelBroker } from "../edge/tunnel-broker.ts";
import { ServerError } from "../errors.ts";
import type { Store, User } from "../store/store.ts";

type Request = IncomingMessage | Http2ServerRequest;

/** The part of an HTTP/1.1 or HTTP/2 compat response the proxy uses. */
export interface ProxyResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(chunk?: string): unknown;
  destroy(): unknown;
  on(event: "close" | "finish", listener: () => void): unknown;
  readonly headersSent: boolean;
}

/** What the Docker proxy needs from the rest of the server. */
export interface DockerProxyOptions {
  readonly store: Pick<Store, "environments">;
  readonly edge: Pick<EdgeService, "isConnected">;
  readonly tunnels: Pick<TunnelBroker, "open">;
  /** Resolves the caller from the request's credentials, or throws `unauthorized` (as the API does). */
  readonly authenticate: (credentials: { apiKey: string | undefined; authorization: string | undefined }) => Promise<User>;
  /** Freshest check-in time of an environment (memory first, then the store). */
  readonly lastCheckIn: (environmentId: number, stored: Date | null) => Date | null;
  readonly log: (level: "debug" | "error", message: string) => void;
  /** How long a device has to open a tunnel (default 5000 ms). */
  readonly tunnelTimeoutMs?: number;
}

/** `/api/endpoints/<id>/docker` followed by the Docker Engine API path and query. */
const routePattern = /^\/api\/endpoints\/([0-9]{1,15})\/docker(?=\/|\?|$)(.*)$/s;

// Hop-by-hop headers (RFC 9110 §7.6.1) and what HTTP/2 forbids (RFC 9113 §8.2.2) never cross
// the proxy; credentials meant for Pier never reach the device.
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings", "expect"]);
const pierOnly = new Set(["authorization", "x-api-key", "cookie", "host"]);

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** Drops hop-by-hop headers, those the `Connection` header names, and HTTP/2 pseudo-headers. */
function forwardable(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): OutgoingHttpHeaders {
  const named = new Set((header(headers, "connection") ?? "").split(",").map((name) => name.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || hopByHop.has(name) || drop.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function wantsUpgrade(req: Request): boolean {
  return req.headers["upgrade"] !== undefined || /(^|,)\s*upgrade\s*(,|$)/i.test(header(req.headers, "connection") ?? "");
}

function sendError(res: ProxyResponse, error: ServerError): void {
  const text = JSON.stringify({ message: error.message, ...(error.details ? { details: JSON.stringify(error.details) } : {}) });
  res.writeHead(error.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The Docker Engine API of an edge device, at `ANY /api/endpoints/{id}/docker/<path>`: checks the
 * caller (as the API does) and the device, opens a tunnel through the device's session and
 * speaks HTTP/1.1 to its Docker Engine through it, streaming both bodies (so
 * `GET /containers/{id}/logs?follow=1` follows live). It bypasses the Hono app because it
 * streams. Returns a handler that answers these paths and returns false for anything else.
 *
 * Requests that take over the connection (`Upgrade`, used by attach and exec) answer 501 for
 * now: `pier docker-proxy` carries them.
 *
 * @example
 * const docker = createDockerProxy({ store, edge, tunnels, authenticate, lastCheckIn, log });
 * const handler = (req, res) => docker(req, res) || api(req, res);
 */
export function createDockerProxy(options: DockerProxyOptions): (req: Request, res: ProxyResponse) => boolean {
  async function admit(req: Request, environmentId: number): Promise<void> {
    await options.authenticate({ apiKey: header(req.headers, "x-api-key"), authorization: header(req.headers, "authorization") });
    const environment = await options.store.environments.get(environmentId);
    if (!environment) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`);
    if (!environment.userTrusted) {
      throw new ServerError("forbidden", `Environment ${environmentId} ("${environment.name}") is in the waiting room: associate it first (POST /api/endpoints/${environmentId}/edge/trust) to reach its Docker Engine.`);
    }
    if (wantsUpgrade(req)) {
      throw new ServerError("not_implemented", "This route does not carry requests that take over the connection (attach, exec with a TTY): use `pier docker-proxy`, which carries them.");
    }
    if (!options.edge.isConnected(environmentId)) {
      const last = options.lastCheckIn(environmentId, environment.lastCheckInAt);
      throw new ServerError(
        "unavailable",
        `Environment ${environmentId} ("${environment.name}") is offline: last check-in ${last ? last.toISOString() : "never"}. Its Docker Engine is reached through the agent's open session; start the agent (session mode, not polling) and retry.`,
      );
    }
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
      await admit(req, environmentId);
      tunnel = await options.tunnels.open(environmentId, { signal: clientGone.signal, ...(options.tunnelTimeoutMs === undefined ? {} : { timeoutMs: options.tunnelTimeoutMs }) });
      if (clientGone.signal.aborted) {
        tunnel.destroy(clientGone.signal.reason as Error);
        return;
      }
      const pipe = tunnel;
      await new Promise<void>((resolve, reject) => {
        const request = http.request({ createConnection: () => pipe, method, path: dockerPath, headers: { ...forwardable(req.headers, pierOnly), host: "docker" } }, (response) => {
          outcome = String(response.statusCode ?? 0);
          res.writeHead(response.statusCode ?? 502, forwardable(response.headers, new Set()));
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
      const failure = error instanceof ServerError ? error : new ServerError("bad_gateway", `Proxying to the device's Docker Engine failed: ${(error as Error).message}.`, { cause: error });
      if (res.headersSent) {
        outcome = `${outcome}, cut: ${failure.message}`;
        res.destroy();
      } else {
        outcome = `${failure.status} ${failure.message}`;
        sendError(res, failure);
      }
      if (!(error instanceof ServerError)) options.log("error", `docker proxy for environment ${environmentId} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      // The response is complete (or given up): nothing more travels through this tunnel.
      tunnel?.destroy();
      options.log("debug", `docker environment ${environmentId}: ${method} ${dockerPath} → ${outcome} in ${Date.now() - started} ms`);
    }
  }

  return (req, res) => {
    const match = routePattern.exec(req.url ?? "");
    if (!match) return false;
    const rest = match[2] ?? "";
    void proxy(req, res, Number(match[1]), rest.startsWith("/") ? rest : `/${rest}`);
    return true;
  };
}
