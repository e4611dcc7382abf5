import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { mtlsImpact } from "../../tls/mtls-lockout.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { connectedEnvironments } from "../connected-environments.ts";
import { failure, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

/** The largest PEM text the impact check reads per field (a certificate with its chain). */
export const maxImpactPem = 64 * 1024;

const impactBody = z.object({
  Cert: z.string().min(1).max(maxImpactPem, `at most ${maxImpactPem} characters`).openapi({ description: "The mTLS server certificate to apply (PEM)" }),
  CaCert: z.string().min(1).max(maxImpactPem, `at most ${maxImpactPem} characters`).optional().openapi({ description: "The client CA to apply (PEM)" }),
  Host: z.string().min(1).max(253).openapi({ description: "The host name the browser uses (window.location.hostname)" }),
});

const impactSchema = z
  .object({
    Names: z.array(z.string()).openapi({ description: "The certificate's DNS and IP names" }),
    CoversHost: z.boolean().openapi({ description: "The browser's host would need a client certificate afterwards" }),
    KeepsWorking: z.array(z.string()).openapi({ description: "UI addresses that keep working without a client certificate (https://127.0.0.1:<port> only on the server itself)" }),
    ConnectedAgents: z.number().int(),
    Disconnected: z.number().int().openapi({ description: "Connected agents without a client certificate of the new CA: their sessions end" }),
  })
  .openapi("MtlsImpact");

/**
 * `POST /api/settings/edge/mtls/impact`: what applying an mTLS set would change, so the UI can
 * warn before an administrator locks their own browser out (docs/ui.md). Changes nothing.
 */
export function registerMtlsImpactRoute(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/settings/edge/mtls/impact",
      summary: "What applying an mTLS certificate set would change: whether the browser's host would need a client certificate, the addresses that keep working, the agents disconnected",
      security: secured,
      request: { body: jsonBody(impactBody) },
      responses: { 200: jsonAnswer(impactSchema, "The impact; nothing was changed"), 400: failure("Not a certificate, or a field over its limit") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const url = new URL(c.req.url);
      const environments = await deps.store.environments.list();
      const connected = await connectedEnvironments(deps, environments.map((environment) => environment.id));
      const agents = environments.filter((environment) => connected.has(environment.id)).map((environment) => ({ certificateIssuer: environment.clientCertificate?.issuer ?? null }));
      const impact = mtlsImpact({
        certificatePem: body.Cert,
        ...(body.CaCert === undefined ? {} : { caPem: body.CaCert }),
        browserHost: body.Host,
        port: url.port || "443",
        mainNames: deps.tls.main.names,
        agents,
      });
      return c.json({ Names: impact.names, CoversHost: impact.coversHost, KeepsWorking: impact.keepsWorking, ConnectedAgents: impact.connectedAgents, Disconnected: impact.disconnected }, 200);
    },
  );
}
