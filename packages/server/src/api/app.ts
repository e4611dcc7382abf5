import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { ServerError } from "../errors.ts";
import { errorBody, retryAfterHeaders } from "../http/error-response.ts";
import type { ApiDependencies, ApiEnv } from "./context.ts";
import { registerUserRoutes } from "./routes/users.ts";
import { registerEndpointRoutes } from "./routes/endpoints.ts";
import { registerSettingsRoutes } from "./routes/settings.ts";
import { registerCertificateRoutes } from "./routes/certificates.ts";
import { registerPkiRotationRoutes } from "./routes/pki-rotation.ts";
import { registerPkiRoutes } from "./routes/pki.ts";
import { registerMtlsImpactRoute } from "./routes/mtls-impact.ts";
import { registerCertificateRenewalRoutes } from "./routes/certificate-renewal.ts";
import { registerCertificateRevocationRoutes } from "./routes/certificate-revocation.ts";
import { registerAlertRoutes } from "./routes/alerts.ts";
import { registerTagRoutes } from "./routes/tags.ts";
import { registerEdgeGroupRoutes } from "./routes/edge-groups.ts";
import { registerRegistryRoutes } from "./routes/registries.ts";
import { registerEdgeJobRoutes } from "./routes/edge-jobs.ts";
import { registerAgentUpdateRoutes } from "./routes/agent-updates.ts";
import { registerEdgeStackRoutes } from "./routes/edge-stacks.ts";
import { registerEdgeStackRolloutRoutes } from "./routes/edge-stack-rollouts.ts";
import { registerAuditRoutes } from "./routes/audit.ts";
import { registerConsoleRoutes } from "./routes/console.ts";
import { registerTeamRoutes } from "./routes/teams.ts";
import { authenticate } from "./authenticate.ts";
import { requestIds, requestLog } from "../logging/index.ts";
import { authorize } from "./authorize.ts";
import { publicPaths } from "../auth/index.ts";

/**
 * The largest JSON body any API route takes. The biggest is the mTLS upload (PUT
 * /api/settings/edge/mtls): an RSA-4096 CA, a certificate with two chain certificates and an
 * RSA-4096 key measured 10,655 bytes of JSON, so 1 MiB needs no exception for any route.
 */
export const maxApiBodyBytes = 1024 * 1024;

/**
 * Refuses a body over `maxBytes` with 413 `payload_too_large`: at once when Content-Length
 * says so (nothing is read), else (chunked) as soon as the bytes read pass it. Hono's
 * `bodyLimit` reads at most `maxBytes` before refusing; the rest is never buffered.
 */
function limitRequestBody(maxBytes: number): ReturnType<typeof bodyLimit> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ServerError("payload_too_large", `The request body exceeds ${maxBytes} bytes, the most this API takes.`, { fix: `Send a smaller body; no API request needs more than ${maxBytes} bytes.` });
    },
  });
}

/** Creates an app whose validation failures answer 400 naming the field. */
export function createRouter(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (result.success) return undefined;
      const issue = result.error.issues[0];
      const field = issue?.path.join(".") ?? "";
      const { status, body } = errorBody(
        new ServerError("bad_request", `Invalid request: ${field || "(body)"}: ${issue?.message ?? "invalid value"}`, {
          ...(field ? { field } : {}),
          fix: field ? `Correct ${field} and send the request again.` : "Send the JSON body this route describes in /api/openapi.json.",
        }),
      );
      return c.json(body, status as 400);
    },
  });
}

/**
 * The HTTP API: Portainer-compatible routes plus Pier's, an OpenAPI description at
 * `/api/openapi.json`, and one place that turns errors into responses.
 */
export function createApiApp(deps: ApiDependencies): OpenAPIHono<ApiEnv> {
  const app = createRouter();
  app.openAPIRegistry.registerComponent("securitySchemes", "jwt", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", { type: "apiKey", in: "header", name: "X-API-Key" });

  // Every /api route needs a user, except the few that cannot: first-admin creation, login,
  // this API's own description and the CRL (the "public" entries of route-permissions.ts,
  // justified in docs/security.md).
  // First: every answer carries X-Request-Id, and every log line of the request its id.
  app.use("*", requestIds());
  app.use("*", requestLog(deps.log));
  // Before authentication, so nobody (signed in or not) makes the server hold a large body.
  app.use("/api/*", limitRequestBody(maxApiBodyBytes));
  app.use("/api/*", authenticate(deps, publicPaths()));
  // What each route needs of the caller's role: route-permissions.ts (default deny).
  app.use("/api/*", authorize());
  registerUserRoutes(app, deps);
  registerEndpointRoutes(app, deps);
  registerSettingsRoutes(app, deps);
  registerCertificateRoutes(app, deps);
  registerPkiRotationRoutes(app, deps);
  registerPkiRoutes(app, deps);
  registerMtlsImpactRoute(app, deps);
  registerCertificateRenewalRoutes(app, deps);
  registerAlertRoutes(app, deps);
  registerCertificateRevocationRoutes(app, deps);
  registerTagRoutes(app, deps);
  registerEdgeGroupRoutes(app, deps);
  registerRegistryRoutes(app, deps);
  registerEdgeJobRoutes(app, deps);
  registerAgentUpdateRoutes(app, deps);
  registerEdgeStackRoutes(app, deps);
  registerEdgeStackRolloutRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerConsoleRoutes(app, deps);
  registerTeamRoutes(app, deps);

  app.doc31("/api/openapi.json", { openapi: "3.1.0", info: { title: "Pier API", version: "0.1.0", description: "Pier control plane. A subset keeps Portainer's names and shapes." } });
  app.notFound((c) => {
    const { status, body } = errorBody(new ServerError("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`, { fix: "The routes are listed in /api/openapi.json." }));
    return c.json(body, status as 404);
  });
  app.onError((error, c) => {
    const answer = errorBody(error);
    if (answer.internal) deps.log("error", `API ${c.req.method} ${new URL(c.req.url).pathname} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return c.json(answer.body, answer.status as 400, retryAfterHeaders(answer));
  });
  return app;
}
