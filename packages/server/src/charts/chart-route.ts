import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { ServerError } from "../errors.ts";
import { sendError, type ErrorResponse } from "../http/error-response.ts";
import { packageChart, type PackagedChart } from "./package-chart.ts";

/** The path prefix of packaged charts, outside `/api/` like the UI's files. */
export const chartsPath = "/charts/";

/**
 * How long a client may keep the archive before asking again (with its ETag): the name holds
 * the version, but a server upgrade may change a chart's files without bumping it.
 */
const cacheControl = "public, max-age=3600";

/** The part of a Node response (HTTP/1.1 or HTTP/2 compat) the route writes. */
export interface ChartResponse extends ErrorResponse {
  end(): unknown;
  end(chunk: string): unknown;
  end(chunk: Buffer): unknown;
}

/** What the route serves, and where it reports a chart it cannot. */
export interface ChartRouteOptions {
  /** The chart directory shipped with the server (`deploy/helm/pier-agent`). */
  readonly dir: string;
  readonly log: (level: "warn" | "error", message: string) => void;
}

/** Serves one request under `/charts/`, or returns false for any other. */
export interface ChartRoute {
  (req: IncomingMessage | Http2ServerRequest, res: ChartResponse): boolean;
  /** Packages the chart now (at start), logging why it cannot be served; never rejects. */
  prepare(): Promise<void>;
}

function notServed(path: string, chart: PackagedChart): ServerError {
  return new ServerError("not_found", `No chart at ${path}: this server serves ${chartsPath}${chart.fileName} (${chart.name} ${chart.version}).`, {
    fix: `Take the command from Add environment, or fetch ${chartsPath}${chart.fileName}: the chart goes with this server's release.`,
  });
}

function answer(req: IncomingMessage | Http2ServerRequest, res: ChartResponse, chart: PackagedChart): void {
  const headers = {
    "content-type": "application/gzip",
    "content-disposition": `attachment; filename="${chart.fileName}"`,
    "cache-control": cacheControl,
    "x-content-type-options": "nosniff",
    etag: chart.etag,
  };
  if (req.headers["if-none-match"] === chart.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "content-length": chart.archive.length });
  if (req.method === "HEAD") res.end();
  else res.end(chart.archive);
}

/**
 * `GET`/`HEAD /charts/<name>-<version>.tgz` on the HTTPS listener: the agent's Helm chart,
 * packaged once from `dir` as `helm package` would, for `helm install pier-agent https://…/charts/…`
 * (docs/deploy.md "Kubernetes"). It needs no credentials, since Helm cannot send a session: the
 * chart is the repository's, public and without secrets (docs/security.md "Unauthenticated routes").
 * Another path under `/charts/` answers 404 naming the one served; a chart that cannot be
 * packaged, 503. Other methods are left to the API (404).
 *
 * @example
 * const charts = createChartRoute({ dir: "deploy/helm/pier-agent", log });
 * void charts.prepare();
 * if (charts(req, res)) return;
 */
export function createChartRoute(options: ChartRouteOptions): ChartRoute {
  let packaged: Promise<PackagedChart> | undefined;
  const chart = () => (packaged ??= packageChart(options.dir));
  const route = (req: IncomingMessage | Http2ServerRequest, res: ChartResponse): boolean => {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    if (!path.startsWith(chartsPath) || (req.method !== "GET" && req.method !== "HEAD")) return false;
    const head = req.method === "HEAD";
    void chart().then(
      (served) => {
        if (path === `${chartsPath}${served.fileName}`) answer(req, res, served);
        else sendError(res, notServed(path, served), { "x-content-type-options": "nosniff" }, head);
      },
      (error: unknown) => {
        if (sendError(res, error, { "x-content-type-options": "nosniff" }, head).internal) options.log("error", `GET ${path} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      },
    );
    return true;
  };
  return Object.assign(route, {
    prepare: () =>
      chart().then(
        () => undefined,
        (error: unknown) => options.log("warn", `the agent's Helm chart is not served (${chartsPath}): ${error instanceof Error ? error.message : String(error)}`),
      ),
  });
}
