import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { ServerError } from "../../errors.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, secured } from "../route-helpers.ts";

const renewalRequestedSchema = z
  .object({
    EnvironmentId: z.number().int(),
    Serial: z.string().openapi({ description: "The certificate the device holds now, which it will replace" }),
    Message: z.string(),
  })
  .openapi("CertificateRenewalRequested");

/**
 * `POST /api/endpoints/{id}/certificate/renew`: an administrator asks a device to renew its
 * built-in-CA certificate now (docs/identity.md, "Renewal"). The server pushes `renew {reason:
 * "requested", withinSeconds: 0}` on the device's session; the agent then renews over its own
 * mTLS session like a scheduled renewal (and is spread like one). 409 when the device is offline
 * or holds no certificate of the built-in CA.
 */
export function registerCertificateRenewalRoutes(app: OpenAPIHono<ApiEnv>, deps: Pick<ApiDependencies, "store" | "edge">): void {
  const { store, edge } = deps;
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints/{id}/certificate/renew",
      summary: "Ask a device to renew its certificate now (pushed on its session)",
      security: secured,
      request: { params: z.object({ id: idParam("id") }) },
      responses: {
        202: jsonAnswer(renewalRequestedSchema, "The device was told to renew"),
        404: failure("No such environment"),
        409: failure("The device is offline, or holds no certificate of the built-in CA"),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const environment = await store.environments.get(id);
      if (!environment) throw new ServerError("not_found", `Environment ${id} does not exist.`);
      const now = Date.now();
      const current = (await store.certificates.listByEnvironment(id)).find((row) => row.revokedAt === null && row.notAfter.getTime() > now);
      if (!current) {
        throw new ServerError("conflict", `Environment ${id} (${environment.edgeId ?? environment.name}) holds no valid certificate of the built-in CA, so there is nothing to renew.`, {
          fix: "A device enrolled with the built-in CA gets one when it is associated; a device with an operator certificate renews it with the operator's CA.",
        });
      }
      if (!edge.push(id, { type: "renew", reason: "requested", withinSeconds: 0 })) {
        throw new ServerError("conflict", `Environment ${id} (${environment.edgeId ?? environment.name}) is offline (no open session): it cannot be told to renew now.`, {
          fix: `Try again once the device is connected; it renews by itself at two thirds of its certificate's lifetime (certificate ${current.serial} is valid until ${current.notAfter.toISOString()}).`,
        });
      }
      await store.audit.append({ kind: "certificate_renewal_requested", environmentId: id, edgeId: environment.edgeId, detail: { by: c.get("user").username, serial: current.serial } });
      return c.json({ EnvironmentId: id, Serial: current.serial, Message: `Environment ${id} was told to renew certificate ${current.serial} now.` }, 202);
    },
  );
}
