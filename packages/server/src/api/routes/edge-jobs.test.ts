import { fleetLimits } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

/** `/api/edge_jobs…` through the API of a real server on loopback, in Portainer's shapes. */
describe("edge jobs API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let one: number;
  let two: number;
  let three: number;
  let group: number;

  beforeAll(async () => {
    dir = tempDir("edge-jobs-api");
    ({ server, api } = await startAdminServer(dir, password));
    one = (await server.store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true })).id;
    two = (await server.store.environments.create({ name: "edge-2", type: "edge-agent", userTrusted: true })).id;
    three = (await server.store.environments.create({ name: "edge-3", type: "edge-agent", userTrusted: true })).id;
    const created = await api.call("POST", "/api/edge_groups", { body: { Name: "sites", Dynamic: false, Endpoints: [two, three] } });
    expect(created.status, created.text).toBe(200);
    group = created.json["Id"] as number;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const valid = () => ({ name: "disk usage", cronExpression: "0 * * * *", recurring: true, edgeGroups: [group], endpoints: [one], fileContent: "df -h /host\n" });

  it("refuses every route without a signed-in user (401)", async () => {
    for (const [method, path] of [
      ["GET", "/api/edge_jobs"],
      ["POST", "/api/edge_jobs/create/string"],
      ["GET", "/api/edge_jobs/1/tasks"],
      ["POST", "/api/edge_jobs/1/tasks/1/logs"],
    ] as const) {
      expect((await api.call(method, path, { token: null, body: method === "POST" ? valid() : undefined })).status, `${method} ${path}`).toBe(401);
    }
    // Precondition: signed in, the list answers.
    expect((await api.call("GET", "/api/edge_jobs")).status).toBe(200);
    // The routes are described (the preprocessed payloads included).
    const described = await api.call("GET", "/api/openapi.json");
    expect(Object.keys(described.json["paths"] as object)).toEqual(expect.arrayContaining(["/api/edge_jobs/create/string", "/api/edge_jobs/{id}/tasks/{taskId}/logs"]));
  });

  it("creates a job and shows it, its script and its tasks in Portainer's shapes; deletes it (204, then 404)", async () => {
    const created = await api.call("POST", "/api/edge_jobs/create/string", { body: valid() });
    expect(created.status, created.text).toBe(200);
    const id = created.json["Id"] as number;
    const expected = {
      Id: id,
      Name: "disk usage",
      CronExpression: "0 * * * *",
      Recurring: true,
      EdgeGroups: [group],
      Endpoints: { [String(one)]: { LogsStatus: 1, CollectLogs: false } },
      GroupLogsCollection: {},
      Created: expect.any(Number) as unknown,
      Version: 1,
    };
    expect(created.json).toEqual(expected);
    expect(Math.abs((created.json["Created"] as number) - Date.now() / 1000)).toBeLessThan(60);
    expect((await api.call("GET", `/api/edge_jobs/${id}`)).json).toEqual(expected);
    expect((await api.call("GET", "/api/edge_jobs")).json).toEqual(expect.arrayContaining([expected]));
    expect((await api.call("GET", `/api/edge_jobs/${id}/file`)).json).toEqual({ FileContent: "df -h /host\n" });
    // One task per target: the explicit environment and the group's members.
    const tasks = await api.call("GET", `/api/edge_jobs/${id}/tasks`);
    expect(tasks.json).toEqual([one, two, three].map((environmentId) => ({ Id: String(environmentId), EndpointId: environmentId, LogsStatus: 1, Pier: {} })));
    // The group is in use: deleting it is refused while the job names it.
    const groupDelete = await api.call("DELETE", `/api/edge_groups/${group}`);
    expect(groupDelete.status).toBe(409);
    expect(groupDelete.json["message"]).toContain('edge job "disk usage"');
    expect((await api.call("GET", `/api/edge_groups/${group}`)).json["HasEdgeJob"]).toBe(true);
    expect((await api.call("DELETE", `/api/edge_jobs/${id}`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_jobs/${id}`)).status).toBe(404);
    expect((await api.call("DELETE", `/api/edge_jobs/${id}`)).status).toBe(404);
    expect((await api.call("GET", `/api/edge_groups/${group}`)).json["HasEdgeJob"]).toBe(false);
  });

  it("asks a device for its output (2), shows it once the device sent it (3), and clears it (1); 404 for an environment the job does not run on", async () => {
    const id = (await api.call("POST", "/api/edge_jobs/create/string", { body: { ...valid(), edgeGroups: [] } })).json["Id"] as number;
    expect((await api.call("POST", `/api/edge_jobs/${id}/tasks/${two}/logs`)).status).toBe(404);
    expect((await api.call("POST", `/api/edge_jobs/${id}/tasks/${one}/logs`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_jobs/${id}/tasks`)).json).toEqual([{ Id: String(one), EndpointId: one, LogsStatus: 2, Pier: {} }]);
    expect(((await api.call("GET", `/api/edge_jobs/${id}`)).json["Endpoints"] as Record<string, unknown>)[String(one)]).toEqual({ LogsStatus: 2, CollectLogs: true });
    expect((await api.call("GET", `/api/edge_jobs/${id}/tasks/${one}/logs`)).json).toEqual({ FileContent: "" });
    // The device's upload and run report (what the edge routes hand to the store).
    await server.store.edgeJobs.storeLogs(id, one, "Filesystem Size Used\n/dev/sda1 20G 5G\n", new Date());
    await server.store.edgeJobs.recordRun(id, one, { version: 1, startedAt: new Date(Date.UTC(2026, 11, 6, 10)), finishedAt: new Date(Date.UTC(2026, 11, 6, 10, 0, 2)), exitCode: 0 });
    expect((await api.call("GET", `/api/edge_jobs/${id}/tasks/${one}/logs`)).json).toEqual({ FileContent: "Filesystem Size Used\n/dev/sda1 20G 5G\n" });
    expect((await api.call("GET", `/api/edge_jobs/${id}/tasks`)).json).toEqual([
      { Id: String(one), EndpointId: one, LogsStatus: 3, Pier: { LastRun: { StartedAt: "2026-12-06T10:00:00.000Z", FinishedAt: "2026-12-06T10:00:02.000Z", ExitCode: 0, Version: 1 } } },
    ]);
    expect((await api.call("DELETE", `/api/edge_jobs/${id}/tasks/${one}/logs`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_jobs/${id}/tasks/${one}/logs`)).json).toEqual({ FileContent: "" });
    expect(((await api.call("GET", `/api/edge_jobs/${id}/tasks`)).json as unknown as { LogsStatus: number }[])[0]?.LogsStatus).toBe(1);
    expect((await api.call("GET", `/api/edge_jobs/999/tasks/${one}/logs`)).status).toBe(404);
  });

  it("updates with Portainer's PUT (camelCase or PascalCase fields): a new script makes a new version, a new name does not", async () => {
    const id = (await api.call("POST", "/api/edge_jobs/create/string", { body: valid() })).json["Id"] as number;
    const renamed = await api.call("PUT", `/api/edge_jobs/${id}`, { body: { Name: "disk", Endpoints: [two] } });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.json).toMatchObject({ Name: "disk", Version: 1, Endpoints: { [String(two)]: { LogsStatus: 1, CollectLogs: false } }, EdgeGroups: [group], CronExpression: "0 * * * *" });
    const rescripted = await api.call("PUT", `/api/edge_jobs/${id}`, { body: { fileContent: "uptime", cronExpression: "*/5 * * * *" } });
    expect(rescripted.json).toMatchObject({ Name: "disk", Version: 2, CronExpression: "*/5 * * * *" });
    expect((await api.call("GET", `/api/edge_jobs/${id}/file`)).json).toEqual({ FileContent: "uptime" });
    const bad = await api.call("PUT", `/api/edge_jobs/${id}`, { body: { cronExpression: "* * *" } });
    expect(bad.status).toBe(400);
    expect(bad.json["field"]).toBe("cronExpression");
    expect((await api.call("PUT", "/api/edge_jobs/999", { body: { name: "x" } })).status).toBe(404);
  });

  it("refuses a cron expression croner refuses (400 naming cronExpression, with its reason)", async () => {
    for (const [cronExpression, reason] of [
      ["61 * * * *", "Invalid value for minute: 61"],
      ["* * * * * *", "requires exactly 5 parts"],
      ["0 0 31 2 *", "never matches"],
      ["", "empty"],
    ] as const) {
      const answer = await api.call("POST", "/api/edge_jobs/create/string", { body: { ...valid(), cronExpression } });
      expect(answer.status, cronExpression).toBe(400);
      expect(answer.json["field"]).toBe("cronExpression");
      expect(answer.json["message"]).toContain(reason);
    }
  });

  it("holds every input to its limit (400 naming the field), the limit itself accepted", async () => {
    const refused = async (body: Record<string, unknown>, field: string) => {
      const answer = await api.call("POST", "/api/edge_jobs/create/string", { body });
      expect(answer.status, `${field}: ${answer.text.slice(0, 200)}`).toBe(400);
      expect(answer.json["field"]).toBe(field);
    };
    // The script: 64 KiB accepted, one byte more refused, in bytes of UTF-8 (é is two).
    expect((await api.call("POST", "/api/edge_jobs/create/string", { body: { ...valid(), fileContent: "#".repeat(fleetLimits.jobScriptBytes) } })).status).toBe(200);
    await refused({ ...valid(), fileContent: "#".repeat(fleetLimits.jobScriptBytes + 1) }, "fileContent");
    await refused({ ...valid(), fileContent: "é".repeat(fleetLimits.jobScriptBytes / 2 + 1) }, "fileContent");
    await refused({ ...valid(), fileContent: "  \n" }, "fileContent");
    await refused({ ...valid(), name: "n".repeat(129) }, "name");
    await refused({ ...valid(), name: "" }, "name");
    await refused({ ...valid(), cronExpression: "0 ".repeat(65) }, "cronExpression");
    await refused({ ...valid(), edgeGroups: Array.from({ length: 101 }, (_, i) => i + 1) }, "edgeGroups");
    await refused({ ...valid(), endpoints: Array.from({ length: 10_001 }, (_, i) => i + 1) }, "endpoints");
    await refused({ ...valid(), endpoints: [one, 9999] }, "endpoints");
    await refused({ ...valid(), edgeGroups: [group, 9999] }, "edgeGroups");
    await refused({ ...valid(), edgeGroups: [], endpoints: [] }, "edgeGroups");
    const waiting = await server.store.environments.create({ name: "waiting", type: "edge-agent" });
    await refused({ ...valid(), endpoints: [waiting.id] }, "endpoints");
  });
});
