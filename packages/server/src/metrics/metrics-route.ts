import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { User } from "../store/store.ts";
import { sendError, type ErrorResponse } from "../http/error-response.ts";
import type { Credentials } from "../api/authenticate.ts";
import type { MetricsRegistry } from "./metrics-registry.ts";

/** The path Prometheus scrapes (its default `metrics_path`). */
export const metricsPath = "/metrics";

/** The part of a Node response (HTTP/1.1 or HTTP/2 compat) the route writes. */
export interface MetricsResponse extends ErrorResponse {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
}

/** What the route needs: the metrics, and who a request's credentials belong to. */
export interface MetricsRouteOptions {
  readonly metrics: Pick<MetricsRegistry, "contentType" | "render">;
  /** `authenticateRequest` (api/authenticate.ts): resolves the user or throws `unauthorized`. */
  readonly authenticate: (credentials: Credentials) => Promise<User>;
  readonly log: (level: "error", message: string) => void;
}

/**
 * Where an access token may come from: `X-API-Key`, or `Authorization: Bearer pier_…`, the form
 * Prometheus's `authorization: {credentials_file}` sends (Prometheus 2.42, Debian 12's, sets no
 * other header). A bearer that is not an access token is a session (JWT), as on the API.
 */
export function metricsCredentials(headers: { "x-api-key"?: string | string[]; authorization?: string }): Credentials {
  const apiKey = typeof headers["x-api-key"] === "string" ? headers["x-api-key"] : undefined;
  const bearer = /^Bearer\s+(pier_\S+)$/i.exec(headers.authorization ?? "")?.[1];
  if (apiKey === undefined && bearer !== undefined) return { apiKey: bearer, authorization: undefined };
  return { apiKey, authorization: headers.authorization };
}

/**
 * `GET /metrics` on the HTTPS listener (docs/security.md "Metrics and logs"): any signed-in user or access
 * token, whatever its role, reads the metrics in Prometheus text format; anything else answers
 * 401 in the API's error shape. Returns false for other paths and methods (left to the API: 404).
 *
 * @example
 * const metricsRoute = createMetricsRoute({ metrics, authenticate: (credentials) => authenticateRequest(deps, credentials), log });
 * if (metricsRoute(req, res)) return;
 */
export function createMetricsRoute(options: MetricsRouteOptions): (req: IncomingMessage | Http2ServerRequest, res: MetricsResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== metricsPath || (req.method !== "GET" && req.method !== "HEAD")) return false;
    const head = req.method === "HEAD";
    void (async () => {
      try {
        await options.authenticate(metricsCredentials(req.headers));
        const text = await options.metrics.render();
        res.writeHead(200, { "content-type": options.metrics.contentType, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
        if (head) res.end();
        else res.end(text);
      } catch (error) {
        // The caller's mistakes (401) answer in the API's shape; the server's own are logged too.
        if (sendError(res, error, {}, head).internal) options.log("error", `GET /metrics failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    })();
    return true;
  };
}
