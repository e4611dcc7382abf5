import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { CertificateAuthority } from "@pier/pki";
import { ServerError } from "../../errors.ts";
import { type RotationStatus, type RotationStraggler, maxRotationWindowSeconds } from "../../identity/rotation.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";

const caSchema = z
  .object({
    Subject: z.string(),
    Fingerprint: z.string().openapi({ description: "SHA-256 of the DER CA certificate, lowercase hex (as in GET /api/certificates)" }),
    NotAfter: z.string().openapi({ description: "ISO 8601" }),
  })
  .openapi("RotationCa");

const stragglerSchema = z
  .object({
    Id: z.number().int(),
    Name: z.string(),
    EdgeID: z.string(),
    Online: z.boolean(),
    LastCheckIn: z.string().nullable().openapi({ description: "ISO 8601" }),
    Serial: z.string().openapi({ description: "The certificate that keeps the device behind (lowercase hex)" }),
  })
  .openapi("RotationStraggler");

const statusSchema = z
  .object({
    Phase: z.enum(["standby", "rotating", "rolling_back"]),
    StartedAt: z.string().nullable(),
    WindowSeconds: z.number().int().nullable(),
    FromCa: caSchema.openapi({ description: "The CA devices move away from; in standby, the CA in force" }),
    ToCa: caSchema.nullable(),
    DevicesTotal: z.number().int().openapi({ description: "Devices whose newest unrevoked certificate comes from the built-in CA (either CA of the rotation)" }),
    DevicesMoved: z.number().int(),
    DevicesOnline: z.number().int(),
    Stragglers: z.array(stragglerSchema).openapi({ description: "Devices not moved yet, online ones first" }),
  })
  .openapi("RotationStatus");

const finishSchema = statusSchema
  .extend({
    RetiredDirectory: z.string().nullable().openapi({ description: "Where the dropped CA is kept (never trusted again)" }),
    Stragglers: z.array(stragglerSchema).openapi({ description: "Devices left behind: they must enroll again through the Waiting Room" }),
  })
  .openapi("RotationFinish");

function caView(ca: CertificateAuthority): z.infer<typeof caSchema> {
  return { Subject: ca.certificate.subjectText, Fingerprint: ca.certificate.fingerprintSha256, NotAfter: ca.certificate.notAfter.toISOString() };
}

function stragglerView(straggler: RotationStraggler): z.infer<typeof stragglerSchema> {
  return {
    Id: straggler.environmentId,
    Name: straggler.name,
    EdgeID: straggler.edgeId,
    Online: straggler.online,
    LastCheckIn: straggler.lastCheckIn?.toISOString() ?? null,
    Serial: straggler.serial,
  };
}

function statusView(status: RotationStatus): z.infer<typeof statusSchema> {
  return {
    Phase: status.phase,
    StartedAt: status.startedAt?.toISOString() ?? null,
    WindowSeconds: status.windowSeconds,
    FromCa: caView(status.fromCa),
    ToCa: status.toCa ? caView(status.toCa) : null,
    DevicesTotal: status.devicesTotal,
    DevicesMoved: status.devicesMoved,
    DevicesOnline: status.devicesOnline,
    Stragglers: status.stragglers.map(stragglerView),
  };
}

/**
 * The built-in CA's rotation (docs/identity.md "CA rotation"): `GET /api/pki/rotation` (progress),
 * `POST /api/pki/rotation` (start), `POST /api/pki/rotation/finish`, `POST /api/pki/rotation/rollback`.
 */
export function registerPkiRotationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const rotation = () => {
    const found = deps.rotation?.();
    if (!found) throw new ServerError("conflict", "This server has no built-in CA to rotate.", { fix: "CA rotation applies to Pier's built-in CA; rotate an operator CA with your own PKI tooling." });
    return found;
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/pki/rotation",
      summary: "Where the built-in CA's rotation stands: phase, CAs, devices moved, stragglers",
      security: secured,
      responses: { 200: jsonAnswer(statusSchema, "The rotation's progress"), 409: failure("No built-in CA") },
    }),
    async (c) => c.json(statusView(await rotation().status()), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/pki/rotation",
      summary: "Start a rotation of the built-in CA: a new CA issues, both are trusted, every device renews within WindowSeconds",
      security: secured,
      request: {
        body: jsonBody(
          z.object({
            WindowSeconds: z.number().int().min(0).max(maxRotationWindowSeconds).optional().openapi({ description: "Seconds over which devices renew (default 600)" }),
          }),
          false,
        ),
      },
      responses: { 200: jsonAnswer(statusSchema, "The rotation, started"), 400: failure("Invalid body"), 409: failure("A rotation is under way, or there is no built-in CA") },
    }),
    async (c) => {
      const body = c.req.header("content-length") === "0" || !c.req.header("content-type") ? {} : c.req.valid("json");
      const status = await rotation().start(body.WindowSeconds === undefined ? {} : { windowSeconds: body.WindowSeconds });
      deps.log("info", `CA rotation started by ${c.get("user").username}`);
      return c.json(statusView(status), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/pki/rotation/finish",
      summary: "Finish the rotation (or its rollback): the dropped CA is retired, the server certificate moves, devices left behind are listed",
      security: secured,
      request: { body: jsonBody(z.object({ Force: z.boolean().optional().openapi({ description: "Finish even though online devices have not moved" }) }), false) },
      responses: { 200: jsonAnswer(finishSchema, "Finished"), 400: failure("Invalid body"), 409: failure("No rotation to finish, or online devices have not moved (details.stragglers)") },
    }),
    async (c) => {
      const body = c.req.header("content-length") === "0" || !c.req.header("content-type") ? {} : c.req.valid("json");
      const finished = await rotation().finish({ force: body.Force === true });
      deps.log("info", `CA rotation finished by ${c.get("user").username}${body.Force === true ? " (forced)" : ""}`);
      return c.json({ ...statusView(finished.status), RetiredDirectory: finished.retiredDirectory ?? null, Stragglers: finished.stragglers.map(stragglerView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/pki/rotation/rollback",
      summary: "Roll the rotation back before it is finished: the old CA issues again and moved devices renew under it",
      security: secured,
      responses: { 200: jsonAnswer(statusSchema, "The rotation, reversed"), 409: failure("No rotation to roll back") },
    }),
    async (c) => {
      const status = await rotation().rollback();
      deps.log("warn", `CA rotation rolled back by ${c.get("user").username}`);
      return c.json(statusView(status), 200);
    },
  );
}
