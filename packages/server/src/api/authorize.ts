import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { requirePermission, routeAccess } from "../auth/index.ts";
import { ServerError } from "../errors.ts";
import type { ApiEnv } from "./context.ts";

// Hono's templates are `/api/users/:id`; the table's, OpenAPI's `/api/users/{id}`.
const template = (honoPath: string) => honoPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)(\{[^}]*\})?/g, "{$1}");

/**
 * Checks the route's entry in `routePermissions` against the caller's role (after
 * `authenticate`). The route is the one Hono will answer with: the first matched handler for the
 * method (HEAD as GET); a handler for every method (`app.all`) is looked up with the request's
 * method, so it needs an entry per method. No matched route (a 404) goes on to the not-found answer.
 */
export function authorize(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const method = c.req.method.toUpperCase();
    // Middlewares are `ALL` on a wildcard path; a handler registered for every method is a route too.
    const routes = matchedRoutes(c).filter((route) => route.method !== "ALL" || !route.path.endsWith("*"));
    const route = routes.find((r) => r.method === method || r.method === "ALL") ?? (method === "HEAD" ? routes.find((r) => r.method === "GET") : undefined);
    if (route === undefined) return next();
    const access = routeAccess(method, template(route.path));
    if (access === "public") return next();
    const user = c.get("user") as ApiEnv["Variables"]["user"] | undefined;
    if (user === undefined) throw new ServerError("unauthorized", "Authentication required.", { fix: "Log in with POST /api/auth and send Authorization: Bearer <jwt>, or send X-API-Key." });
    if (access === "signed-in") return next();
    requirePermission(user.role, access, `${method} ${template(route.path)}`);
    return next();
  };
}
