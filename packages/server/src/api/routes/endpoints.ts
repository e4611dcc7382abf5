import { createHash, randomBytes } from "node:crypto";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { dockerSnapshotSchema, encodeEdgeKey } from "@pier/protocol";
import { ServerError } from "../../errors.ts";
import type { Environment, StoredDockerSummary } from "../../store/store.ts";
import { summarizeDockerSnapshot } from "../../docker/docker-summary.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { deviceAuditTrail } from "../device-audit-trail.ts";
import { endpointSchema, endpointView } from "../views.ts";
import { announceEnvironmentChange } from "../../cluster/event-handlers.ts";
import { registerEndpointListRoute } from "./endpoint-list.ts";
import { connectedEnvironments } from "../connected-environments.ts";
import type { AppliedRequest } from "../../fleet/edge-group-requests.ts";
import { tagLimits } from "../../fleet/tags.ts";
import type { Context } from "hono";
import { requireInScope } from "../request-scope.ts";

const idParams = z.object({ id: idParam("id") });
const interval = z.number().int().min(1).max(3600).openapi({ description: "Check-in interval in seconds; 0 or absent = the global setting" });
const auditSchema = z
  .object({ Id: z.number().int(), At: z.string(), Kind: z.string(), EdgeID: z.string(), SourceAddress: z.string(), Detail: z.record(z.string(), z.unknown()) })
  .openapi("AuditEvent");

/** Environments, the waiting room and edge keys — Portainer's routes and shapes. */
export function registerEndpointRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  const { store, edge } = deps;

  // The key's secret exists only in the answer that made it: the store keeps its hash.
  async function view(environment: Environment, requestUrl: string, secret?: string, notApplied?: AppliedRequest["notApplied"]) {
    const settings = await store.settings.get();
    const edgeKey = secret === undefined ? undefined : encodeEdgeKey({ ...(await deps.edgeEndpoint(new URL(requestUrl))), environmentId: environment.id, secret });
    const fingerprint = environment.clientCertificate?.fingerprintSha256;
    return endpointView(environment, settings, {
      lastCheckIn: deps.lastCheckIn(environment.id, environment.lastCheckInAt),
      connected: (await connectedEnvironments(deps, [environment.id])).has(environment.id),
      clone: edge.cloneOf(environment),
      docker: await dockerSummaryOf(environment.id),
      dockerState: edge.dockerStateOf(environment.id),
      clockSkew: edge.clockSkewOf(environment.id),
      certificates: await store.certificates.listByEnvironment(environment.id),
      ...(fingerprint === undefined ? {} : { sharedBy: Math.max(1, await store.environments.countSharingCertificate(fingerprint)) }),
      ...(edgeKey === undefined ? {} : { edgeKey }),
      tagIds: (await store.tags.tagsOf([environment.id])).get(environment.id) ?? [],
      requestedEdgeGroups: (await store.edgeGroups.requestsOf([environment.id])).get(environment.id) ?? [],
      ...(notApplied === undefined ? {} : { edgeGroupsNotApplied: notApplied }),
    });
  }

  async function dockerSummaryOf(environmentId: number): Promise<StoredDockerSummary | null> {
    const stored = await store.snapshots.get(environmentId);
    return stored && { at: stored.at, summary: summarizeDockerSnapshot(stored.snapshot) };
  }

  async function find(id: number): Promise<Environment> {
    const environment = await store.environments.get(id);
    if (!environment) throw new ServerError("not_found", `Environment ${id} does not exist.`);
    return environment;
  }

  // Outside the caller's team scope an environment answers as if it did not exist (auth/environment-scope.ts).
  async function findInScope(c: Context<ApiEnv>, id: number): Promise<Environment> {
    await requireInScope(c, deps, id);
    return find(id);
  }

  registerEndpointListRoute(app, deps);

  app.openapi(
    createRoute({ method: "get", path: "/api/endpoints/{id}", summary: "One environment", security: secured, request: { params: idParams }, responses: { 200: jsonAnswer(endpointSchema, "The environment"), 404: failure("No such environment") } }),
    async (c) => c.json(await view(await findInScope(c, c.req.valid("param").id), c.req.url), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints",
      summary: "Create an edge environment with its own EDGE_KEY: the device that first uses it becomes this environment, associated at once, or waiting in the Waiting Room with UserTrusted: false",
      security: secured,
      request: {
        body: jsonBody(
          z.object({
            Name: z.string().min(1).max(128),
            EdgeCheckinInterval: interval.optional(),
            UserTrusted: z.boolean().optional().openapi({ description: "false: the device waits in the Waiting Room until associated (default true, as Portainer)" }),
          }),
        ),
      },
      responses: { 200: jsonAnswer(endpointSchema, "The environment, with EdgeKey (shown this once: the server keeps only a hash of its secret)"), 400: failure("Invalid body") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { secret, hash } = newKeySecret();
      const environment = await store.environments.create({ name: body.Name, type: "edge-agent", edgeKeyEnvironment: true, edgeKeySecretHash: hash, userTrusted: body.UserTrusted ?? true, checkinIntervalSeconds: body.EdgeCheckinInterval ?? null });
      return c.json(await view(environment, c.req.url, secret), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints/{id}/edge/key",
      summary: "A new EDGE_KEY for an environment no device has claimed yet (the previous key stops working); shown this once",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(endpointSchema, "The environment, with its new EdgeKey"), 404: failure("No such environment"), 409: failure("A device already uses this environment") },
    }),
    async (c) => {
      const environment = await findInScope(c, c.req.valid("param").id);
      if (environment.edgeId !== null) {
        throw new ServerError("conflict", `Environment ${environment.id} is already used by device ${environment.edgeId}; a new key would not move it.`, {
          fix: "Remove the environment and add it again to enrol another device, or enrol it with the fleet-wide key.",
        });
      }
      const { secret, hash } = newKeySecret();
      const updated = await store.environments.update(environment.id, { edgeKeyEnvironment: true, edgeKeySecretHash: hash });
      await store.audit.append({ kind: "edge_key_made", environmentId: environment.id, detail: { by: c.get("user").username } });
      return c.json(await view(updated, c.req.url, secret), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/endpoints/{id}",
      summary: "Rename an environment, set its tags (TagIDs replaces them), override its check-in interval (0 = global), or associate a waiting device (UserTrusted: true, as POST /api/endpoints/{id}/edge/trust)",
      security: secured,
      request: {
        params: idParams,
        body: jsonBody(
          z.object({
            Name: z.string().min(1).max(128).optional(),
            EdgeCheckinInterval: z.number().int().min(0).max(3600).optional(),
            UserTrusted: z.boolean().optional().openapi({ description: "true associates a waiting device (with the built-in CA: issues its certificate); false sends it back to the waiting room" }),
            TagIDs: z
              .array(z.number().int().positive())
              .max(tagLimits.perEnvironment, `an environment carries at most ${tagLimits.perEnvironment} tags`)
              .optional()
              .openapi({ description: `The tags it carries from now on (replaces them; at most ${tagLimits.perEnvironment}, each existing)` }),
          }),
        ),
      },
      responses: { 200: jsonAnswer(endpointSchema, "Updated; when it associated a device that asked for edge groups, Pier.EdgeGroupsNotApplied lists the names not applied"), 400: failure("Invalid body, or a tag that does not exist (named)"), 404: failure("No such environment") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const before = await findInScope(c, id);
      // Checked before anything is written: a refused tag leaves the name and trust as they were.
      if (body.TagIDs !== undefined) await deps.fleet.tags.checkTagsExist(body.TagIDs, "TagIDs");
      const patch = {
        ...(body.Name === undefined ? {} : { name: body.Name }),
        ...(body.EdgeCheckinInterval === undefined ? {} : { checkinIntervalSeconds: body.EdgeCheckinInterval === 0 ? null : body.EdgeCheckinInterval }),
        ...(body.UserTrusted === undefined ? {} : { userTrusted: body.UserTrusted }),
      };
      // An association commits with its audit entry, or neither does (chaos suite, server-crash).
      if (body.UserTrusted === true && !before.userTrusted) await store.audit.append({ kind: "associated", environmentId: id, edgeId: before.edgeId, detail: { by: c.get("user").username } }, (transaction) => store.environments.update(id, patch, transaction));
      else await store.environments.update(id, patch);
      if (body.TagIDs !== undefined) await deps.fleet.tags.setEnvironmentTags(id, body.TagIDs, c.get("user").username);
      // Association applies the groups the device asked for; either way its groups changed.
      let applied: AppliedRequest | undefined;
      if (body.UserTrusted === true && !before.userTrusted) applied = await deps.fleet.edgeGroupRequests.associated(id, c.get("user").username, before.edgeId);
      if (body.UserTrusted === false && before.userTrusted) await deps.fleet.changes.changed([id]);
      await announceEnvironmentChange(deps, id);
      // Read again: an association may have issued the device's certificate.
      return c.json(await view(await find(id), c.req.url, undefined, applied?.notApplied), 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: "/api/endpoints/{id}", summary: "Remove an environment or a waiting device (its session is closed)", security: secured, request: { params: idParams }, responses: { 204: { description: "Removed" }, 404: failure("No such environment") } }),
    async (c) => {
      const environment = await findInScope(c, c.req.valid("param").id);
      // Every replica ends the device's session and tunnels it holds, and forgets its check-ins.
      await deps.events.publish({ type: "environment_removed", environmentId: environment.id });
      // Removing revokes (docs/identity.md "States"): a copy of the device's key and certificate
      // must not get back in under a new environment, and its tunnels close now.
      await deps.revocation?.()?.revokeForRemoval(environment.id, c.get("user").username);
      await store.environments.delete(environment.id);
      await store.audit.append({ kind: "removed", environmentId: environment.id, edgeId: environment.edgeId, detail: { by: c.get("user").username } });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: "/api/endpoints/{id}/edge/trust", summary: "Associate a device from the waiting room", security: secured, request: { params: idParams }, responses: { 204: { description: "Associated" }, 404: failure("No such environment") } }),
    async (c) => {
      const environment = await findInScope(c, c.req.valid("param").id);
      if (!environment.userTrusted) {
        // The association and its audit entry commit together (chaos suite, server-crash).
        await store.audit.append({ kind: "associated", environmentId: environment.id, edgeId: environment.edgeId, detail: { by: c.get("user").username } }, (transaction) =>
          store.environments.update(environment.id, { userTrusted: true }, transaction),
        );
        await deps.fleet.edgeGroupRequests.associated(environment.id, c.get("user").username, environment.edgeId);
      }
      // Also when it was associated already: an association cut short after its first write (a
      // full disk refused the next ones) left the device's certificate unissued, and asking
      // again did nothing (chaos suite, disk-full). Issuing is once per CSR; the status is resent.
      await announceEnvironmentChange(deps, environment.id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/endpoints/{id}/events",
      summary: "The audit trail of one environment, newest first (200 at most): enrolment, association, certificates, refusals with their reason, and refused TLS handshakes that presented one of its certificates",
      security: secured,
      request: { params: idParams },
      responses: { 200: jsonAnswer(z.array(auditSchema), "Newest first") },
    }),
    async (c) => {
      const environment = await findInScope(c, c.req.valid("param").id);
      const events = await deviceAuditTrail(store, environment.id);
      return c.json(events.map((e) => ({ Id: e.id, At: e.at.toISOString(), Kind: e.kind, EdgeID: e.edgeId ?? "", SourceAddress: e.sourceAddress ?? "", Detail: e.detail })), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/endpoints/{id}/docker-snapshot",
      summary: "The device's latest Docker snapshot (engine, host, containers, images, volumes, networks), as its agent reported it",
      security: secured,
      request: { params: idParams },
      responses: {
        200: jsonAnswer(
          z.object({ Time: z.number().int().openapi({ description: "Unix seconds: when the server received it" }), Snapshot: dockerSnapshotSchema }).openapi("DockerSnapshotReport"),
          "The latest snapshot",
        ),
        404: failure("No such environment, or no snapshot yet"),
      },
    }),
    async (c) => {
      const environment = await findInScope(c, c.req.valid("param").id);
      const stored = await store.snapshots.get(environment.id);
      if (!stored) throw new ServerError("not_found", `Environment ${environment.id} has not reported a Docker snapshot yet; its agent sends one once its session is open and Docker answers.`);
      return c.json({ Time: Math.floor(stored.at.getTime() / 1000), Snapshot: stored.snapshot }, 200);
    },
  );

  // Served before this app (it streams and takes over connections: docker/docker-proxy.ts);
  // described here so the API's description covers it.
  const dockerPath = z.string().openapi({ param: { name: "path", in: "path" }, description: "The Docker Engine API path, slashes included (e.g. v1.41/containers/json)", example: "containers/json" });
  for (const method of ["get", "head", "post", "put", "delete"] as const) {
    app.openAPIRegistry.registerPath({
      method,
      path: "/api/endpoints/{id}/docker/{path}",
      summary: "The device's Docker Engine API, through its tunnel",
      description:
        "Any Docker Engine API call, forwarded to the associated device over its agent's mTLS session; bodies stream both ways (logs?follow=1, events, pulls). HTTP/1.1 requests with `Connection: Upgrade` (attach, exec start) are spliced to Docker and answered by it (`101 UPGRADED`). `pier docker-proxy` serves this to the docker CLI.",
      security: secured,
      request: { params: z.object({ id: idParam("id"), path: dockerPath }) },
      responses: {
        200: { description: "Docker's own answer (any status Docker gives passes through)" },
        401: failure("Not logged in"),
        403: failure("The environment is in the waiting room"),
        404: failure("No such environment"),
        502: failure("The device's Docker Engine failed in the middle of its answer"),
        503: failure("The device is offline, or it cannot reach its Docker Engine (the reason is given)"),
      },
    });
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints/edge/generate-key",
      summary: "A fleet-wide EDGE_KEY (environment id 0): its devices land in the waiting room",
      security: secured,
      request: { body: jsonBody(z.object({ url: z.url().optional(), tunnelServerAddress: z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "must be host:port").optional() }), false) },
      responses: { 200: jsonAnswer(z.object({ edgeKey: z.string() }), "The key"), 400: failure("Invalid body") },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const defaults = await deps.edgeEndpoint(new URL(c.req.url));
      if (body.url !== undefined && !body.url.startsWith("https://")) throw new ServerError("bad_request", "url must be an https:// URL: agents never talk to Pier in plaintext.", { field: "url", fix: "Give the https:// address agents reach the server at." });
      const edgeKey = encodeEdgeKey({ apiUrl: body.url ?? defaults.apiUrl, tunnelAddress: body.tunnelServerAddress ?? defaults.tunnelAddress, serverFingerprint: defaults.serverFingerprint, environmentId: 0 });
      return c.json({ edgeKey }, 200);
    },
  );
}

/** A per-environment key's secret (256 random bits, base64url) and the SHA-256 the store keeps instead. */
function newKeySecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { secret, hash: createHash("sha256").update(secret).digest("hex") };
}
