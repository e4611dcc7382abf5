import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { ServerError } from "../../errors.ts";
import type { SettingsPatch } from "../../store/store.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { errorSchema, mtlsRefusalSchema, mtlsStateSchema, mtlsStateView, settingsSchema, settingsView } from "../views.ts";
import { clientAddress } from "../../net/client-address.ts";

const settingsPatch = z.object({
  EnableEdgeComputeFeatures: z.boolean().optional(),
  EdgeAgentCheckinInterval: z.number().int().min(1).max(3600).optional(),
  TrustOnFirstConnect: z.boolean().optional(),
  AutoReissueWithinSeconds: z
    .number()
    .int()
    .min(0)
    .max(397 * 86_400)
    .optional()
    .openapi({ description: "Re-issue a device certificate that expired less than this many seconds ago without the waiting room; 0 = off" }),
  EdgePortainerUrl: z.union([z.literal(""), z.url().startsWith("https://", "must be an https:// URL")]).optional(),
  TrustDomain: z
    .union([z.literal(""), z.string().regex(/^[a-z0-9._-]{1,253}$/, "must be lowercase letters, digits, '.', '-' or '_' (a SPIFFE trust domain)")])
    .optional()
    .openapi({ description: "Trust domain of new device certificates' URI SAN; empty: pier.local" }),
  BindCommonName: z.boolean().optional().openapi({ description: "An operator certificate whose CN is an EDGE_ID is accepted only with that EDGE_ID" }),
  WebhookURL: z
    .string()
    .max(2048, "must be at most 2048 characters")
    .refine((url) => url === "" || (url.startsWith("https://") && URL.canParse(url)), "must be an https:// URL (or empty, to remove the webhook)")
    .optional()
    .openapi({ description: "Alerts are POSTed here, signed with the webhook secret (set it first: POST /api/settings/webhook/secret); empty removes the webhook" }),
  AlertExpiryDays: z.number().int().min(1).max(397).optional().openapi({ description: "Alert on a device certificate expiring within this many days without a renewal in sight (default 7)" }),
  Edge: z.object({ TunnelServerAddress: z.union([z.literal(""), z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "must be host:port")]).optional() }).optional(),
});

const pem = (what: string) => z.string().max(1024 * 1024).optional().openapi({ description: `${what}, PEM text` });
const mtlsBody = z.object({
  UseSeparateCert: z.boolean().openapi({ description: "false removes the uploaded set and turns the separate mTLS domain off" }),
  CaCert: pem("The CA that issued the TLS certificate and the agents' client certificates"),
  Cert: pem("The mTLS server certificate (serverAuth), with intermediates after it"),
  Key: pem("Its private key, unencrypted"),
  Crl: pem("Optional: the CA's CRL(s), enforced in the handshake like --mtlscrl (kept in DATA/mtls/crl.pem)"),
});

const crlBody = z.object({
  Crl: z.string().max(1024 * 1024).openapi({ description: "The CA's CRL(s), PEM (one block per CA of the uploaded CA file); an empty string removes the CRL" }),
});

/** `GET/PUT /api/settings` in Portainer's names, the TLS reload call and the mTLS upload. */
export function registerSettingsRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;

  app.openapi(
    createRoute({ method: "get", path: "/api/settings", summary: "Settings", security: secured, responses: { 200: jsonAnswer(settingsSchema, "Settings") } }),
    async (c) => c.json(settingsView(await store.settings.get()), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/settings",
      summary: "Change settings (fields left out keep their value)",
      security: secured,
      request: { body: { content: { "application/json": { schema: settingsPatch } }, required: true } },
      responses: { 200: jsonAnswer(settingsSchema, "Settings in force"), 400: jsonAnswer(errorSchema, "Invalid value") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const patch: SettingsPatch = {
        ...(body.EnableEdgeComputeFeatures === undefined ? {} : { edgeComputeEnabled: body.EnableEdgeComputeFeatures }),
        ...(body.EdgeAgentCheckinInterval === undefined ? {} : { edgeAgentCheckinInterval: body.EdgeAgentCheckinInterval }),
        ...(body.TrustOnFirstConnect === undefined ? {} : { trustOnFirstConnect: body.TrustOnFirstConnect }),
        ...(body.AutoReissueWithinSeconds === undefined ? {} : { autoReissueWithinSeconds: body.AutoReissueWithinSeconds }),
        ...(body.EdgePortainerUrl === undefined ? {} : { edgePortainerUrl: body.EdgePortainerUrl === "" ? null : body.EdgePortainerUrl }),
        ...(body.TrustDomain === undefined ? {} : { trustDomain: body.TrustDomain === "" ? null : body.TrustDomain }),
        ...(body.BindCommonName === undefined ? {} : { bindCommonName: body.BindCommonName }),
        ...(body.Edge?.TunnelServerAddress === undefined ? {} : { edgeTunnelServerAddress: body.Edge.TunnelServerAddress === "" ? null : body.Edge.TunnelServerAddress }),
        ...(body.WebhookURL === undefined ? {} : { webhookUrl: body.WebhookURL === "" ? null : body.WebhookURL }),
        ...(body.AlertExpiryDays === undefined ? {} : { alertExpiryDays: body.AlertExpiryDays }),
      };
      // An unsigned alert could be forged by anyone who learns the URL: the secret comes first.
      if (patch.webhookUrl && (await store.settings.get()).webhookSecret === undefined) {
        throw new ServerError("bad_request", "Set the webhook secret before the webhook URL: alerts are always signed.", { field: "WebhookURL", fix: "POST /api/settings/webhook/secret (empty body: Pier generates one and shows it once), then set WebhookURL again." });
      }
      const settings = await store.settings.update(patch);
      // Every replica re-reads them; one whose check-in interval changed tells its sessions.
      await deps.events.publish({ type: "settings_changed" });
      return c.json(settingsView(settings), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/settings/tls/reload",
      summary: "Re-read the TLS certificate, key and CA files now (they are also watched)",
      security: secured,
      responses: { 200: jsonAnswer(z.object({ message: z.string() }), "What is in force"), 422: jsonAnswer(errorSchema, "The files on disk are invalid; the previous ones stay in force") },
    }),
    async (c) => c.json(await deps.reloadTls(), 200),
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/settings/edge/mtls", summary: "The separate mTLS certificate in force and where it comes from", security: secured, responses: { 200: jsonAnswer(mtlsStateSchema, "The mTLS state") } }),
    (c) => c.json(mtlsStateView(deps.tls.source, deps.tls.mtls), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/settings/edge/mtls",
      summary: "Upload a separate mTLS certificate set (applied to both listeners at once, kept in DATA/mtls/), or remove it",
      security: secured,
      request: { body: jsonBody(mtlsBody) },
      responses: {
        200: jsonAnswer(mtlsStateSchema, "The mTLS state in force"),
        400: failure("Invalid body"),
        409: failure("The mTLS files come from --mtlscacert/--mtlscert/--mtlskey; change them on disk"),
        422: jsonAnswer(mtlsRefusalSchema, "The set was refused (pier doctor's checks); nothing changed"),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      // A refused set throws tls_material_invalid with its field and fix: the API's error answer (422).
      if (body.UseSeparateCert) await deps.tls.upload({ caCert: body.CaCert ?? "", cert: body.Cert ?? "", key: body.Key ?? "", ...(body.Crl ? { crl: body.Crl } : {}) });
      else await deps.tls.removeUpload();
      // Who changed the trust anchor of every device is worth keeping.
      const state = mtlsStateView(deps.tls.source, deps.tls.mtls);
      await deps.store.audit.append({
        kind: body.UseSeparateCert ? "mtls_uploaded" : "mtls_removed",
        sourceAddress: clientAddress(c.env.incoming?.socket) ?? "unknown",
        detail: { user: c.get("user").username, ca: state.CaCert?.Subject ?? null, certificate: state.Cert?.Subject ?? null, names: state.Cert?.Names ?? [], crl: state.Crl },
      });
      return c.json(state, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/settings/edge/mtls/crl",
      summary: "Replace (or, with an empty Crl, remove) the CRL of the uploaded mTLS set; connections it lists are closed",
      security: secured,
      request: { body: jsonBody(crlBody) },
      responses: {
        200: jsonAnswer(mtlsStateSchema, "The mTLS state in force"),
        400: failure("Invalid body"),
        409: failure("No uploaded mTLS set, or the mTLS files come from flags (change --mtlscrl's file on disk)"),
        422: jsonAnswer(mtlsRefusalSchema, "The CRL was refused (not a CRL, not signed by the set's CA, expired…); the old one stays"),
      },
    }),
    async (c) => {
      const { Crl } = c.req.valid("json");
      await deps.tls.replaceCrl(Crl.trim() === "" ? undefined : Crl);
      const state = mtlsStateView(deps.tls.source, deps.tls.mtls);
      await deps.store.audit.append({
        kind: Crl.trim() === "" ? "mtls_crl_removed" : "mtls_crl_uploaded",
        sourceAddress: clientAddress(c.env.incoming?.socket) ?? "unknown",
        detail: { user: c.get("user").username, crl: state.Crl },
      });
      return c.json(state, 200);
    },
  );
}
