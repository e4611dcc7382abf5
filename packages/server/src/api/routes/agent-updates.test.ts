import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentUpdateLimits } from "../../fleet/agent-updates.ts";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const adminPassword = "correct horse battery staple";

/** `/api/edge_update_schedules` through the API of a real server on loopback (SQLite in its --data). */
describe("agent update schedules API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let one: number;
  let group: number;

  beforeAll(async () => {
    dir = tempDir("agent-updates-api");
    ({ server, api } = await startAdminServer(dir, adminPassword));
    one = (await server.store.environments.create({ name: "edge-1", type: "edge-agent", userTrusted: true })).id;
    const created = await api.call("POST", "/api/edge_groups", { body: { Name: "sites", Dynamic: false, Endpoints: [one] } });
    group = created.json["Id"] as number;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const valid = () => ({ name: "agent 0.2", groupIDs: [group], agentImage: "registry.lab:5000/pier-agent:0.2", deadlineSeconds: 120, type: 1 });

  it("answers 401 on every route without a session", async () => {
    for (const [method, path] of [["GET", "/api/edge_update_schedules"], ["POST", "/api/edge_update_schedules"], ["GET", "/api/edge_update_schedules/1"], ["DELETE", "/api/edge_update_schedules/1"]] as const) {
      const answer = await api.call(method, path, { token: null, ...(method === "POST" ? { body: valid() } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
    expect((await api.call("GET", "/api/edge_update_schedules")).status).toBe(200);
  });

  it("refuses each field past its limit with 400 naming it, and accepts the limit itself", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: "n".repeat(agentUpdateLimits.name + 1) }, "name"],
      [{ name: "" }, "name"],
      [{ agentImage: `pier-agent:${"x".repeat(agentUpdateLimits.image)}` }, "agentImage"],
      [{ agentImage: "pier agent:0.2" }, "agentImage"],
      [{ groupIDs: [] }, "groupIDs"],
      [{ groupIDs: Array.from({ length: agentUpdateLimits.groups + 1 }, (_, i) => i + 1) }, "groupIDs"],
      [{ deadlineSeconds: agentUpdateLimits.minDeadlineSeconds - 1 }, "deadlineSeconds"],
      [{ deadlineSeconds: agentUpdateLimits.maxDeadlineSeconds + 1 }, "deadlineSeconds"],
      [{ type: 2 }, "type"],
    ];
    for (const [change, field] of cases) {
      const answer = await api.call("POST", "/api/edge_update_schedules", { body: { ...valid(), ...change } });
      expect(answer.status, JSON.stringify(change).slice(0, 80)).toBe(400);
      expect(answer.text).toContain(field);
    }
    expect((await api.call("GET", "/api/edge_update_schedules")).json).toEqual([]);
    const atLimits = await api.call("POST", "/api/edge_update_schedules", { body: { ...valid(), name: "n".repeat(agentUpdateLimits.name), agentImage: "i".repeat(agentUpdateLimits.image), deadlineSeconds: agentUpdateLimits.maxDeadlineSeconds } });
    expect(atLimits.status, atLimits.text).toBe(200);
    expect((await api.call("DELETE", `/api/edge_update_schedules/${atLimits.json["id"] as number}`)).status).toBe(204);
  });

  it("creates a schedule in Portainer BE's shape with each member pending, 409 on a taken name, 404 once deleted", async () => {
    const created = await api.call("POST", "/api/edge_update_schedules", { body: valid() });
    expect(created.status, created.text).toBe(200);
    const id = created.json["id"] as number;
    expect(created.json).toEqual({
      id,
      name: "agent 0.2",
      type: 1,
      version: "0.2",
      agentImage: "registry.lab:5000/pier-agent:0.2",
      edgeGroupIds: [group],
      environmentIds: [one],
      created: expect.any(Number) as number,
      scheduledTime: "",
      deadlineSeconds: 120,
      status: { [String(one)]: { status: "pending" } },
    });
    expect((await api.call("GET", `/api/edge_update_schedules/${id}`)).json).toEqual(created.json);
    expect((await api.call("GET", "/api/edge_update_schedules")).json).toEqual([created.json]);
    expect((await api.call("POST", "/api/edge_update_schedules", { body: valid() })).status).toBe(409);
    expect((await api.call("DELETE", `/api/edge_update_schedules/${id}`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_update_schedules/${id}`)).status).toBe(404);
  });
});
