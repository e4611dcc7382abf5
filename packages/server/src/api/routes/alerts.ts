import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { alertKinds } from "../../alerts/alert.ts";
import { generateWebhookSecret, webhookSecretLimits } from "../../alerts/webhook-signature.ts";
import { ServerError } from "../../errors.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { environmentsInScope } from "../fleet-scope.ts";
import { requestScope } from "../request-scope.ts";
import { failure, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { clientAddress } from "../../net/client-address.ts";

const alertSchema = z
  .object({
    Id: z.string(),
    Kind: z.enum(alertKinds),
    At: z.string().openapi({ description: "First raised (ISO 8601)" }),
    LastAt: z.string().openapi({ description: "Last seen" }),
    Count: z.number().int(),
    Active: z.boolean().openapi({ description: "False once the condition went away (a certificate was renewed)" }),
    EnvironmentId: z.number().int().nullable(),
    EdgeId: z.string().nullable(),
    Message: z.string(),
    Detail: z.record(z.string(), z.unknown()),
  })
  .openapi("Alert");

const alertsQuery = z.object({
  active: z.enum(["true", "false"]).optional().openapi({ description: "true: only alerts whose condition holds" }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const secretBody = z.object({
  Secret: z
    .string()
    .min(webhookSecretLimits.minLength)
    .max(webhookSecretLimits.maxLength)
    .optional()
    .openapi({ description: `The secret to use (${webhookSecretLimits.minLength} to ${webhookSecretLimits.maxLength} characters); left out, Pier generates 32 random bytes` }),
});

/** `GET /api/pier/alerts` and `POST /api/settings/webhook/secret` (docs/identity.md "Alerts"). */
export function registerAlertRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/pier/alerts",
      summary: "Alerts: certificates expiring without renewal, failed renewals, revoked devices connecting, clones (newest first, at most 1,000 kept)",
      security: secured,
      request: { query: alertsQuery },
      responses: { 200: jsonAnswer(z.array(alertSchema), "Alerts"), 400: failure("Invalid query") },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const everything = (await requestScope(c, deps)).edgeGroupIds === "all";
      const listed = deps.alerts?.list.list({ activeOnly: query.active === "true", ...(query.limit === undefined || !everything ? {} : { limit: query.limit }) }) ?? [];
      // Outside administrators, the alerts of the caller's environments only (docs/security.md
      // "Teams and scope"); one of no environment (a foreign handshake, the CA) is an administrator's.
      const inScope = await environmentsInScope(c, deps, listed.flatMap((alert) => (alert.environmentId === null ? [] : [alert.environmentId])));
      const alerts = everything ? listed : listed.filter((alert) => alert.environmentId !== null && inScope(alert.environmentId)).slice(0, query.limit ?? listed.length);
      return c.json(
        alerts.map((a) => ({ Id: a.id, Kind: a.kind, At: a.at.toISOString(), LastAt: a.lastAt.toISOString(), Count: a.count, Active: a.active, EnvironmentId: a.environmentId, EdgeId: a.edgeId, Message: a.message, Detail: a.detail })),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/settings/webhook/secret",
      summary: "Set or generate the webhook secret (HMAC-SHA256 key of X-Pier-Signature); the answer is the only time it is shown",
      security: secured,
      request: { body: jsonBody(secretBody, false) },
      responses: { 200: jsonAnswer(z.object({ Secret: z.string() }), "The secret in force, shown this once"), 400: failure("Invalid secret") },
    }),
    async (c) => {
      const text = await c.req.text();
      let given: string | undefined;
      if (text.trim() !== "") {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (error) {
          throw new ServerError("bad_request", "Invalid request: the body is not JSON.", { fix: 'Send {"Secret": "…"} or an empty body.', cause: error });
        }
        const parsed = secretBody.safeParse(json);
        if (!parsed.success) {
          throw new ServerError("bad_request", `Invalid request: Secret: must be ${webhookSecretLimits.minLength} to ${webhookSecretLimits.maxLength} characters.`, { field: "Secret", fix: "Send a longer (or shorter) secret, or an empty body to have one generated." });
        }
        given = parsed.data.Secret;
      }
      const secret = given ?? generateWebhookSecret();
      await deps.store.settings.update({ webhookSecret: secret });
      await deps.events.publish({ type: "settings_changed" });
      // Who changed the key receivers check is worth keeping; the key itself never is.
      await deps.store.audit.append({ kind: "webhook_secret_changed", sourceAddress: clientAddress(c.env.incoming?.socket) ?? "unknown", detail: { user: c.get("user").username, generated: given === undefined } });
      return c.json({ Secret: secret }, 200);
    },
  );
}
