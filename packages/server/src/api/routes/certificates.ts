import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { jsonAnswer, secured } from "../route-helpers.ts";
import { certSummary, certificatesSchema, clientCertificateView, issuedView } from "../views.ts";

/** `GET /api/certificates`: the built-in CA and what it issued, the certificates in force, the devices' client certificates. */
export function registerCertificateRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/certificates",
      summary: "The built-in CA, the certificates it issued, the server and mTLS certificates in force, and the client certificates environments presented",
      security: secured,
      responses: { 200: jsonAnswer(certificatesSchema, "Every certificate Pier knows of") },
    }),
    async (c) => {
      const ca = deps.builtInCa();
      const environments = await deps.store.environments.list();
      return c.json(
        {
          CA: ca ? certSummary(ca.certificate) : null,
          Issued: ca ? ca.list().map((record) => issuedView(record, ca.certificate.subjectText)) : [],
          Server: certSummary(deps.tls.main.certificate),
          Mtls: deps.tls.mtls ? certSummary(deps.tls.mtls.certificate) : null,
          Clients: environments.flatMap((environment) => clientCertificateView(environment) ?? []),
        },
        200,
      );
    },
  );
}
