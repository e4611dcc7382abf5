import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { PkiError, parseRevocationReason, revocationReasons } from "@pier/pki";
import { ServerError } from "../../errors.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

const reasonNames = Object.keys(revocationReasons);

const revokeRequestSchema = z
  .object({
    Reason: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: `RFC 5280 reason (default unspecified): ${reasonNames.join(", ")}; case, dashes and underscores are ignored`, example: "keyCompromise" }),
  })
  .openapi("CertificateRevokeRequest");

const revokedSchema = z
  .object({
    EnvironmentId: z.number().int(),
    Serials: z.array(z.string()),
    Reason: z.string(),
    TunnelsClosed: z.number().int(),
    Message: z.string(),
  })
  .openapi("CertificateRevoked");

/**
 * The longest a client may cache the CRL. It changes at every revocation, so a relying party
 * that caches it for long would miss one; five minutes keeps a busy checker from asking per
 * handshake. Never past the CRL's next update.
 */
const crlMaxAgeSeconds = 300;

/**
 * `POST /api/endpoints/{id}/certificate/revoke` (docs/identity.md, "Revocation") and the built-in
 * CA's CRL, `GET /api/pki/crl`, served without authentication: it is the URL the device
 * certificates' CRL Distribution Points name, for openssl and third parties (docs/security.md
 * "Unauthenticated routes, and why").
 */
export function registerCertificateRevocationRoutes(app: OpenAPIHono<ApiEnv>, deps: Pick<ApiDependencies, "revocation" | "deviceCrl">): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints/{id}/certificate/revoke",
      summary: "Revoke a device's certificates: its session and tunnels close within a second, its handshakes are refused",
      security: secured,
      request: { params: z.object({ id: idParam("id") }), body: jsonBody(revokeRequestSchema, false) },
      responses: {
        200: jsonAnswer(revokedSchema, "Revoked"),
        400: failure("Unknown reason"),
        404: failure("No such environment"),
        409: failure("Nothing to revoke: no certificate of the built-in CA, or already revoked"),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json") as z.infer<typeof revokeRequestSchema> | undefined;
      const revocation = deps.revocation?.();
      if (!revocation) {
        throw new ServerError("conflict", "This server has no built-in CA, so it issued no device certificate to revoke.", {
          fix: "Revoke an operator certificate in the operator's CA and give the server its CRL (pier server --mtlscrl FILE).",
        });
      }
      let reason;
      try {
        reason = parseRevocationReason(body?.Reason ?? "unspecified");
      } catch (error) {
        if (!(error instanceof PkiError)) throw error;
        throw new ServerError("bad_request", `Invalid request: Reason: ${error.message}`, { field: "Reason", fix: `Use one of ${reasonNames.join(", ")}.` });
      }
      const outcome = await revocation.revokeEnvironment(id, { reason, by: c.get("user").username });
      return c.json(
        {
          EnvironmentId: id,
          Serials: [...outcome.serials],
          Reason: outcome.reason,
          TunnelsClosed: outcome.tunnelsClosed,
          Message: `Certificate ${outcome.serials.join(", ")} of environment ${id} revoked (${outcome.reason}); its session and ${outcome.tunnelsClosed} tunnel(s) were closed.`,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/pki/crl",
      summary: "The built-in CA's CRL (DER), the URL its device certificates name; no authentication",
      request: { query: z.object({ ca: z.string().regex(/^[0-9a-f]{16}$/, "16 lowercase hex digits (the start of the CA's SPKI SHA-256), as in the certificates' CRL Distribution Point").optional() }) },
      responses: {
        200: { content: { "application/pkix-crl": { schema: z.string().openapi({ format: "binary" }) } }, description: "The CRL, DER" },
        404: failure("This server has no built-in CA"),
      },
    }),
    (c) => {
      const { ca } = c.req.valid("query");
      const crl = deps.deviceCrl?.(ca);
      if (!crl && ca !== undefined && deps.deviceCrl?.()) {
        throw new ServerError("not_found", `No CA of this server has an SPKI SHA-256 starting with ${ca}: it was retired by a CA rotation, or belongs to another server.`, { fix: "Leave out ?ca= for the issuing CA's CRL." });
      }
      if (!crl) throw new ServerError("not_found", "This server has no built-in CA, so it publishes no CRL.", { fix: "Operator CAs publish their own CRLs." });
      const untilNextUpdate = Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000);
      const maxAge = Math.max(0, Math.min(crlMaxAgeSeconds, untilNextUpdate));
      return c.body(new Uint8Array(crl.der), 200, {
        "content-type": "application/pkix-crl",
        "cache-control": `public, max-age=${maxAge}`,
        "last-modified": crl.thisUpdate.toUTCString(),
      });
    },
  );
}
