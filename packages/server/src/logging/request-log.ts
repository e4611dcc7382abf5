import type { MiddlewareHandler } from "hono";

/**
 * One debug line per API request once answered: method, path (never the query), status and
 * milliseconds, e.g. `API GET /api/endpoints 401 (2 ms)`. Inside `requestIds()`, so the line
 * carries the request's id.
 *
 * @example
 * app.use("*", requestIds());
 * app.use("*", requestLog(deps.log));
 */
export function requestLog(log: (level: "debug", message: string) => void): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    log("debug", `API ${c.req.method} ${c.req.path} ${c.res.status} (${Math.round(performance.now() - started)} ms)`);
  };
}
