import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { ServerError } from "../../errors.ts";
import { type ExpiryCounts, type InventoryRow, issuedCertificateStatuses } from "../../store/device-certificate-inventory.ts";
import type { Environment } from "../../store/store.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, jsonAnswer, secured } from "../route-helpers.ts";
import { storedSerial } from "../serials.ts";

/** The most rows one page of the inventory holds. */
export const maxInventoryPage = 500;
/** The longest search text the inventory takes. */
export const maxInventorySearch = 128;

const statuses = [...issuedCertificateStatuses, "shared"] as const;
type Status = (typeof statuses)[number];

const inventoryQuery = z.object({
  start: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).openapi({ description: "Rows to skip" }),
  limit: z.coerce.number().int().min(1).max(maxInventoryPage, `at most ${maxInventoryPage} rows per page`).default(100),
  search: z.string().max(maxInventorySearch, `at most ${maxInventorySearch} characters`).optional().openapi({ description: "Case-insensitive part of the serial, subject, issuer, EDGE_ID or environment name" }),
  status: z.enum(statuses).optional(),
});

const itemSchema = z
  .object({
    Serial: z.string().openapi({ description: "Lowercase hex" }),
    EnvironmentId: z.number().int(),
    EnvironmentName: z.string().openapi({ description: "Empty once the environment was removed" }),
    EdgeID: z.string(),
    Subject: z.string(),
    Issuer: z.string(),
    NotBefore: z.string().nullable(),
    NotAfter: z.string(),
    IssuedAt: z.string().nullable().openapi({ description: "null for an operator's certificate" }),
    Reason: z.string().openapi({ description: "enrollment, renewal, reissue, rotation; operator for a certificate Pier did not issue" }),
    Status: z.enum(statuses),
    Source: z.enum(["built-in", "operator"]),
    SharedBy: z.number().int().openapi({ description: "Environments presenting this certificate" }),
  })
  .openapi("DeviceCertificateItem");

const expirySchema = z.object({ Expired: z.number().int(), Hour: z.number().int(), Day: z.number().int(), Week: z.number().int(), Month: z.number().int(), Later: z.number().int() });

const pageSchema = z
  .object({
    Items: z.array(itemSchema),
    Total: z.number().int().openapi({ description: "Rows the filters match" }),
    Expiry: expirySchema.openapi({ description: "Certificates in use (not revoked, not superseded), whatever the filters, by time left: expired, < 1 hour, < 1 day, < 7 days, < 30 days, later" }),
  })
  .openapi("DeviceCertificatePage");

type Item = z.infer<typeof itemSchema>;

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

function deviceItem(row: InventoryRow): Item {
  return {
    Serial: row.serial,
    EnvironmentId: row.environmentId,
    EnvironmentName: row.environmentName,
    EdgeID: row.edgeId,
    Subject: row.subject,
    Issuer: row.issuer,
    NotBefore: row.notBefore.toISOString(),
    NotAfter: row.notAfter.toISOString(),
    IssuedAt: row.issuedAt.toISOString(),
    Reason: row.reason,
    Status: row.status,
    Source: "built-in",
    SharedBy: 1,
  };
}

/** Time-based status, as the store computes it for Pier's certificates (expiring: under a third of its lifetime left). */
function timeStatus(notBefore: Date | undefined, notAfter: Date, now: number): Status {
  const left = notAfter.getTime() - now;
  if (left <= 0) return "expired";
  const lifetime = notBefore ? notAfter.getTime() - notBefore.getTime() : Number.POSITIVE_INFINITY;
  return left * 3 < lifetime ? "expiring" : "active";
}

/**
 * The certificates environments last presented that Pier did not issue (the operator's), one
 * item per certificate with the number of environments presenting it: "shared" when several do.
 */
function operatorItems(environments: readonly Environment[], recorded: ReadonlySet<string>, now: number): Item[] {
  const groups = new Map<string, { environments: Environment[]; certificate: NonNullable<Environment["clientCertificate"]> }>();
  for (const environment of environments) {
    const certificate = environment.clientCertificate;
    if (!certificate || recorded.has(storedSerial(certificate.serialNumber))) continue;
    const group = groups.get(certificate.fingerprintSha256);
    if (group) group.environments.push(environment);
    else groups.set(certificate.fingerprintSha256, { environments: [environment], certificate });
  }
  return [...groups.values()]
    .map(({ environments: users, certificate }): Item => {
      const first = users[0] as Environment;
      return {
        Serial: storedSerial(certificate.serialNumber),
        EnvironmentId: first.id,
        EnvironmentName: first.name,
        EdgeID: first.edgeId ?? "",
        Subject: certificate.subject,
        Issuer: certificate.issuer,
        NotBefore: certificate.notBefore?.toISOString() ?? null,
        NotAfter: certificate.notAfter.toISOString(),
        IssuedAt: null,
        Reason: "operator",
        Status: users.length > 1 ? "shared" : timeStatus(certificate.notBefore, certificate.notAfter, now),
        Source: "operator",
        SharedBy: users.length,
      };
    })
    .sort((a, b) => a.NotAfter.localeCompare(b.NotAfter) || a.Serial.localeCompare(b.Serial));
}

function matches(item: Item, search: string | undefined, status: Status | undefined): boolean {
  if (status !== undefined && item.Status !== status) return false;
  if (search === undefined || search === "") return true;
  const needle = search.toLowerCase();
  return [item.Serial, item.Subject, item.Issuer, item.EdgeID, item.EnvironmentName].some((value) => value.toLowerCase().includes(needle));
}

function addExpiry(counts: ExpiryCounts, notAfter: string, now: number): void {
  const left = Date.parse(notAfter) - now;
  if (left <= 0) counts.expired += 1;
  else if (left < hourMs) counts.hour += 1;
  else if (left < dayMs) counts.day += 1;
  else if (left < 7 * dayMs) counts.week += 1;
  else if (left < 30 * dayMs) counts.month += 1;
  else counts.later += 1;
}

/**
 * `GET /api/pki/device-certificates`: the inventory of device certificates (Pier's from
 * `device_certificates`, then the operator's that environments presented), paged, searched and
 * filtered by status; `GET /api/pki/ca`: the built-in CA's certificates (PEM) to download.
 */
export function registerPkiRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/pki/device-certificates",
      summary: "Every device certificate: the built-in CA's (status active, expiring, expired, revoked, superseded) then the operator's that environments present (shared when several do)",
      security: secured,
      request: { query: inventoryQuery },
      responses: { 200: jsonAnswer(pageSchema, "One page, ordered by not-after"), 400: failure("limit over 500, search over 128 characters, or an unknown status") },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const now = Date.now();
      const environments = (await store.environments.list()).filter((environment) => environment.clientCertificate !== null);
      const recorded = await store.certificates.recordedSerials([...new Set(environments.map((environment) => storedSerial(environment.clientCertificate?.serialNumber ?? "")))]);
      const operator = operatorItems(environments, recorded, now);
      const issuedStatus = query.status === "shared" ? undefined : query.status;
      const page = await store.certificates.inventory({ start: query.start, limit: query.limit, ...(query.search ? { search: query.search } : {}), ...(issuedStatus ? { status: issuedStatus } : {}), now: new Date(now) });
      // "shared" is only ever an operator's certificate: no row of the store matches it.
      const issuedTotal = query.status === "shared" ? 0 : page.total;
      const issuedRows = query.status === "shared" ? [] : page.rows.map(deviceItem);
      const shown = operator.filter((item) => matches(item, query.search, query.status));
      const operatorStart = Math.max(0, query.start - issuedTotal);
      const items = [...issuedRows, ...shown.slice(operatorStart, operatorStart + query.limit - issuedRows.length)];
      const expiry = { ...page.expiry };
      for (const item of operator) addExpiry(expiry, item.NotAfter, now);
      return c.json(
        {
          Items: items,
          Total: issuedTotal + shown.length,
          Expiry: { Expired: expiry.expired, Hour: expiry.hour, Day: expiry.day, Week: expiry.week, Month: expiry.month, Later: expiry.later },
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/pki/ca",
      summary: "The built-in CA's certificate (PEM) that device certificates chain to; during a CA rotation, both CAs",
      security: secured,
      responses: {
        200: { content: { "application/x-pem-file": { schema: z.string() } }, description: "PEM certificates, as an attachment pier-ca.pem" },
        404: failure("The server has no built-in CA (it runs with certificates given by flags)"),
      },
    }),
    (c) => {
      const ca = deps.builtInCa();
      if (!ca) throw new ServerError("not_found", "This server has no built-in CA: it runs with certificates given by --sslcert/--mtls* flags.", { fix: "Download the CA certificate from wherever those certificates were issued." });
      const pem = deps.deviceTrustBundle?.() ?? ca.certificatePem;
      return c.body(pem, 200, { "Content-Type": "application/x-pem-file", "Content-Disposition": 'attachment; filename="pier-ca.pem"', "Cache-Control": "no-store" });
    },
  );
}
