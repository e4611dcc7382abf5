import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

/**
 * Every API route of the identity lifecycle (issue 17) behind one table: refused without
 * credentials (401), and — for those that take a body — a body declared over the API's 1 MiB cap
 * refused with 413 before it is read. `GET /api/pki/crl` is the one open route (docs/security.md).
 */
// `body`: whether the route takes one; `probe`: the administrator's body for the precondition,
// chosen to change nothing (a rotation started and finished here would move the server's CA).
const routes: readonly { method: string; path: string; body: boolean; probe?: unknown }[] = [
  { method: "GET", path: "/api/pier/alerts", body: false },
  { method: "POST", path: "/api/settings/webhook/secret", body: true },
  { method: "POST", path: "/api/endpoints/1/certificate/renew", body: true },
  { method: "POST", path: "/api/endpoints/1/certificate/revoke", body: true },
  { method: "POST", path: "/api/settings/edge/mtls/impact", body: true },
  { method: "PUT", path: "/api/settings/edge/mtls/crl", body: true },
  { method: "GET", path: "/api/pki/rotation", body: false },
  { method: "POST", path: "/api/pki/rotation", body: true, probe: { WindowSeconds: -1 } },
  { method: "POST", path: "/api/pki/rotation/finish", body: true },
  { method: "POST", path: "/api/pki/rotation/rollback", body: true },
  { method: "GET", path: "/api/pki/device-certificates", body: false },
  { method: "GET", path: "/api/pki/ca", body: false },
];

describe("the identity lifecycle's API routes", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const password = "guard-test-password-17";

  beforeAll(async () => {
    dir = tempDir("identity-guard");
    ({ server, api } = await startAdminServer(dir, password));
  });

  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("answer 401 without credentials, and something else with an administrator's", async () => {
    for (const { method, path, body, probe } of routes) {
      const refused = await api.call(method, path, { token: null, ...(body ? { body: {} } : {}) });
      expect({ path, status: refused.status, code: (refused.json as { code?: string }).code }).toEqual({ path, status: 401, code: "unauthorized" });
      // The precondition: the route is there and the administrator passes authentication.
      const allowed = await api.call(method, path, body ? { body: probe ?? {} } : {});
      expect({ path, status: allowed.status }).not.toEqual({ path, status: 401 });
    }
  });

  it("refuse a body declared over 1 MiB with 413 before reading it, for an administrator too", async () => {
    for (const { method, path } of routes.filter((route) => route.body)) {
      const answer = await api.call(method, path, { headers: { "content-type": "application/json", "content-length": String(1024 * 1024 + 1) } });
      expect({ path, status: answer.status, code: (answer.json as { code?: string }).code }).toEqual({ path, status: 413, code: "payload_too_large" });
    }
  });
});
