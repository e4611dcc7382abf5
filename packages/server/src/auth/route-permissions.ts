import { type Permission, type Role, can, minimumRole, roleLabels } from "@pier/protocol";
import { ServerError } from "../errors.ts";

/**
 * What a route needs: `public` (no credentials; each justified in docs/security.md "Paths and
 * ports"), `signed-in` (any user; the handler itself limits the caller to their own account
 * unless they administer), or a `Permission` (`@pier/protocol`'s `can(role, permission)`).
 */
export type RouteAccess = "public" | "signed-in" | Permission;

/**
 * Every API route and what it needs: the one place to audit who may do what (docs/security.md
 * "Users and roles"). Keys are `METHOD /path` as in /api/openapi.json. A route missing here
 * needs `administer` (default deny); `route-permissions.test.ts` proves every route is listed.
 * Outside the API: the Docker proxy (`dockerPermission` below), `GET /metrics` (any valid
 * session or access token, whatever its role: metrics/metrics-route.ts) and `GET /charts/…`
 * (public: the agent's Helm chart, charts/chart-route.ts).
 */
export const routePermissions: Readonly<Record<string, RouteAccess>> = {
  // Before any user exists, and logging in.
  "POST /api/users/admin/init": "public",
  "GET /api/users/admin/check": "public",
  "POST /api/auth": "public",
  "GET /api/system/status": "public",
  "GET /api/openapi.json": "public",
  // Relying parties fetch the CRL without credentials (RFC 5280 CRL distribution point).
  "GET /api/pki/crl": "public",

  // One's own account; the handlers refuse another user's unless the caller administers.
  "POST /api/auth/logout": "signed-in",
  "GET /api/users/me": "signed-in",
  "GET /api/users/{id}": "signed-in",
  "PUT /api/users/{id}/passwd": "signed-in",
  "POST /api/users/{id}/sessions/end": "signed-in",
  "POST /api/users/{id}/tokens": "signed-in",
  "GET /api/users/{id}/tokens": "signed-in",
  "DELETE /api/users/{id}/tokens/{keyId}": "signed-in",

  // Users.
  "GET /api/users": "administer",
  "POST /api/users": "administer",
  "PUT /api/users/{id}": "administer",
  "DELETE /api/users/{id}": "administer",
  // Teams decide which environments non-administrators see (auth/environment-scope.ts).
  "GET /api/teams": "administer",
  "POST /api/teams": "administer",
  "GET /api/teams/{id}": "administer",
  "PUT /api/teams/{id}": "administer",
  "DELETE /api/teams/{id}": "administer",

  // Environments (devices).
  "GET /api/endpoints": "view",
  "GET /api/endpoints/counts": "view",
  "GET /api/endpoints/{id}": "view",
  "GET /api/endpoints/{id}/events": "view",
  "GET /api/endpoints/{id}/docker-snapshot": "view",
  "POST /api/endpoints": "operate",
  "POST /api/endpoints/edge/generate-key": "operate",
  "POST /api/endpoints/{id}/edge/key": "operate",
  "POST /api/endpoints/{id}/edge/trust": "operate",
  "PUT /api/endpoints/{id}": "operate",
  "DELETE /api/endpoints/{id}": "operate",
  "POST /api/endpoints/{id}/console/tickets": "operate",
  // The Docker proxy answers these before the API; it refines them by Docker path (`dockerPermission`).
  "GET /api/endpoints/{id}/docker/{path}": "view",
  "HEAD /api/endpoints/{id}/docker/{path}": "view",
  "POST /api/endpoints/{id}/docker/{path}": "operate",
  "PUT /api/endpoints/{id}/docker/{path}": "operate",
  "DELETE /api/endpoints/{id}/docker/{path}": "operate",

  // Fleet: tags, edge groups, stacks, jobs, agent updates.
  "GET /api/tags": "view",
  "POST /api/tags": "operate",
  "DELETE /api/tags/{id}": "operate",
  "GET /api/edge_groups": "view",
  "GET /api/edge_groups/{id}": "view",
  // A group's members or rule decide what its teams see: changing one changes access (docs/security.md "Teams and scope").
  "POST /api/edge_groups": "administer",
  "PUT /api/edge_groups/{id}": "administer",
  "DELETE /api/edge_groups/{id}": "administer",
  "GET /api/edge_stacks": "view",
  "GET /api/edge_stacks/{id}": "view",
  "GET /api/edge_stacks/{id}/file": "view",
  "POST /api/edge_stacks/create/string": "operate",
  "PUT /api/edge_stacks/{id}": "operate",
  "DELETE /api/edge_stacks/{id}": "operate",
  "POST /api/edge_stacks/{id}/rollout/pause": "operate",
  "POST /api/edge_stacks/{id}/rollout/resume": "operate",
  "POST /api/edge_stacks/{id}/rollout/abort": "operate",
  "GET /api/edge_jobs": "view",
  "GET /api/edge_jobs/{id}": "view",
  "GET /api/edge_jobs/{id}/file": "view",
  "GET /api/edge_jobs/{id}/tasks": "view",
  "GET /api/edge_jobs/{id}/tasks/{taskId}/logs": "view",
  // Asking a device for a job's logs is reading them (helpdesk reads logs).
  "POST /api/edge_jobs/{id}/tasks/{taskId}/logs": "view",
  "DELETE /api/edge_jobs/{id}/tasks/{taskId}/logs": "operate",
  "POST /api/edge_jobs/create/string": "operate",
  "PUT /api/edge_jobs/{id}": "operate",
  "DELETE /api/edge_jobs/{id}": "operate",
  "GET /api/edge_update_schedules": "view",
  "GET /api/edge_update_schedules/{id}": "view",
  "POST /api/edge_update_schedules": "operate",
  "DELETE /api/edge_update_schedules/{id}": "operate",
  // Registries hold credentials: stacks name them, administrators manage them.
  "GET /api/registries": "view",
  "GET /api/registries/{id}": "view",
  "POST /api/registries": "administer",
  "PUT /api/registries/{id}": "administer",
  "DELETE /api/registries/{id}": "administer",

  // What the Add environment screen shows about the server's certificates (no secrets).
  "GET /api/certificates": "view",
  "GET /api/settings/edge/mtls": "view",
  "GET /api/pier/alerts": "view",

  // Settings, TLS and the mTLS upload.
  "GET /api/settings": "administer",
  "PUT /api/settings": "administer",
  "POST /api/settings/tls/reload": "administer",
  "PUT /api/settings/edge/mtls": "administer",
  "PUT /api/settings/edge/mtls/crl": "administer",
  "POST /api/settings/edge/mtls/impact": "administer",
  "POST /api/settings/webhook/secret": "administer",

  // PKI: the built-in CA, its rotation, device certificates.
  "GET /api/pki/ca": "administer",
  "GET /api/pki/device-certificates": "administer",
  "GET /api/pki/rotation": "administer",
  "POST /api/pki/rotation": "administer",
  "POST /api/pki/rotation/finish": "administer",
  "POST /api/pki/rotation/rollback": "administer",
  "POST /api/endpoints/{id}/certificate/renew": "administer",
  "POST /api/endpoints/{id}/certificate/revoke": "administer",

  // The activity log (who did what, with source addresses): administrators only for now.
  "GET /api/audit": "administer",
  "GET /api/audit/kinds": "administer",
  "GET /api/audit/export": "administer",
};

/**
 * What a route needs, by method and path template (`/api/users/{id}`); `administer` when the
 * route is not listed (default deny). HEAD is checked as GET unless listed.
 *
 * @example
 * routeAccess("GET", "/api/endpoints"); // "view"
 */
export function routeAccess(method: string, template: string): RouteAccess {
  const upper = method.toUpperCase();
  return routePermissions[`${upper} ${template}`] ?? (upper === "HEAD" ? routePermissions[`GET ${template}`] : undefined) ?? "administer";
}

/** The paths that need no credentials, for the authentication middleware. */
export function publicPaths(): string[] {
  return Object.entries(routePermissions)
    .filter(([, access]) => access === "public")
    .map(([key]) => key.slice(key.indexOf(" ") + 1));
}

// Docker Engine reads that hand out more than state and logs: a container's files, an image's
// layers, a whole filesystem. Operators only.
const dockerBulkReads = [/^\/containers\/[^/]+\/(archive|export)$/, /^\/images\/(get|[^/]+\/get)$/, /^\/(containers|exec)\/[^/]+\/(attach|start)/];

/**
 * What a request through the Docker proxy needs, by method and Docker path (after
 * `/api/endpoints/{id}/docker`, version prefix included or not). `view`: GET and HEAD (lists,
 * inspect, logs, stats, events), except downloads of files, images or filesystems; `operate`:
 * everything else (start, stop, restart, kill, remove, create, exec, attach, pull).
 *
 * @example
 * dockerPermission("POST", "/v1.47/containers/abc/stop"); // "operate"
 * dockerPermission("GET", "/containers/abc/logs"); // "view"
 */
export function dockerPermission(method: string, dockerPath: string): Permission {
  const upper = method.toUpperCase();
  if (upper !== "GET" && upper !== "HEAD") return "operate";
  const path = (dockerPath.split("?")[0] ?? "").replace(/^\/v\d+(\.\d+)?(?=\/)/, "");
  return dockerBulkReads.some((pattern) => pattern.test(path)) ? "operate" : "view";
}

/**
 * Throws `forbidden` unless `role` holds `permission`, naming the role needed and the way out:
 * the one refusal behind the API's middleware (`api/authorize.ts`) and the Docker proxy.
 *
 * @example
 * requirePermission(user.role, "operate", "POST /containers/abc/stop");
 */
export function requirePermission(role: Role, permission: Permission, what: string): void {
  if (can(role, permission)) return;
  const needed = minimumRole(permission);
  throw new ServerError("forbidden", `${what} needs the ${roleLabels[needed]} role (or higher); you act as ${roleLabels[role]}.`, {
    details: { role, required: needed, permission },
    fix: "Ask an administrator for a role that allows it, or use an access token whose scope does.",
  });
}
