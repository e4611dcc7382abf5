import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleLimits } from "../../console/index.ts";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";
import { maxApiBodyBytes } from "../app.ts";

const adminPassword = "correct horse battery staple";

/**
 * `POST /api/endpoints/{id}/console/tickets` refusals through a real server on loopback; a ticket
 * issued, and the shell it opens, are web-ui.test.ts's (a real agent and container).
 */
describe("console ticket route", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let environmentId: number;

  beforeAll(async () => {
    dir = tempDir("console-route");
    ({ server, api } = await startAdminServer(dir, adminPassword));
    const created = await api.call("POST", "/api/endpoints", { body: { Name: "console-target" } });
    expect(created.status).toBe(200);
    environmentId = created.json.Id as number;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const path = () => `/api/endpoints/${environmentId}/console/tickets`;

  it("refuses a caller without credentials with 401, before anything else", async () => {
    const answer = await api.call("POST", path(), { body: { container: "web" }, token: null });
    expect(answer.status).toBe(401);
    expect(answer.json).toMatchObject({ code: "unauthorized" });
  });

  it("refuses a body over the API's limit with 413, unread", async () => {
    const answer = await api.call("POST", path(), { body: JSON.stringify({ container: "x".repeat(maxApiBodyBytes) }) });
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ code: "payload_too_large" });
  });

  it("refuses each field one character past its limit, naming the field, and creates nothing", async () => {
    for (const [field, limit] of [["container", consoleLimits.container], ["shell", consoleLimits.shell], ["user", consoleLimits.user]] as const) {
      const body = { container: "web", [field]: field === "shell" ? `/${"s".repeat(limit)}` : "u".repeat(limit + 1) };
      const answer = await api.call("POST", path(), { body });
      expect(answer.status, field).toBe(400);
      expect(answer.json, field).toMatchObject({ field });
    }
  });

  it("answers 503 for a device that is not connected (a well-formed request goes as far as the device)", async () => {
    const answer = await api.call("POST", path(), { body: { container: "web" } });
    expect(answer.status).toBe(503);
    expect(String(answer.json.message)).not.toBe("");
  });
});
