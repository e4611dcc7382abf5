import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;

/** Staged rollouts through the API of a real server on loopback (docs/fleet.md "Rollouts"). */
describe("edge stack rollouts API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let groupId: number;
  let members: number[];

  beforeAll(async () => {
    dir = tempDir("edge-stack-rollouts-api");
    ({ server, api } = await startAdminServer(dir, password));
    members = [];
    for (const name of ["site-1", "site-2", "site-3", "site-4"]) members.push((await server.store.environments.create({ name, type: "edge-agent", userTrusted: true })).id);
    const group = await api.call("POST", "/api/edge_groups", { body: { Name: "sites", Dynamic: false, Endpoints: members } });
    expect(group.status, group.text).toBe(200);
    groupId = group.json["Id"] as number;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const create = async (name: string) => {
    const created = await api.call("POST", "/api/edge_stacks/create/string", { body: { name, deploymentType: 0, edgeGroups: [groupId], stackFileContent: compose("nginx:1") } });
    expect(created.status, created.text).toBe(200);
    return created.json["Id"] as number;
  };
  const update = (id: number, rollout: unknown) => api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: compose("nginx:2"), edgeGroups: [groupId], rollout } });

  it("answers 401 without a login on pause, resume and abort", async () => {
    for (const action of ["pause", "resume", "abort"]) {
      const answer = await api.call("POST", `/api/edge_stacks/1/rollout/${action}`, { token: null });
      expect(answer.status, action).toBe(401);
    }
    // Precondition: a logged-in user gets past authentication (404: no stack 1, or 409: no rollout).
    expect([404, 409]).toContain((await api.call("POST", "/api/edge_stacks/1/rollout/pause")).status);
  });

  it("refuses rollout options out of bounds (400, field named) and stores nothing", async () => {
    const id = await create("bounded");
    const bad: [unknown, string][] = [
      [{ batchSize: 0, waitSeconds: 0, failureThreshold: 0 }, "rollout.batchSize"],
      [{ batchSize: 10_001, waitSeconds: 0, failureThreshold: 0 }, "rollout.batchSize"],
      [{ batchPercent: 101, waitSeconds: 0, failureThreshold: 0 }, "rollout.batchPercent"],
      [{ batchSize: 1, batchPercent: 10, waitSeconds: 0, failureThreshold: 0 }, "rollout.batchSize"],
      [{ waitSeconds: 0, failureThreshold: 0 }, "rollout.batchSize"],
      [{ batchSize: 1, waitSeconds: 86_401, failureThreshold: 0 }, "rollout.waitSeconds"],
      [{ batchSize: 1, waitSeconds: -1, failureThreshold: 0 }, "rollout.waitSeconds"],
      [{ batchSize: 1, waitSeconds: 0, failureThreshold: 10_001 }, "rollout.failureThreshold"],
      [{ batchSize: 1, waitSeconds: 0, failureThreshold: 0, extra: 1 }, "rollout"],
    ];
    for (const [rollout, field] of bad) {
      const answer = await update(id, rollout);
      expect(answer.status, JSON.stringify(rollout)).toBe(400);
      expect(String(answer.json["field"]), JSON.stringify(rollout)).toBe(field);
    }
    const stack = await api.call("GET", `/api/edge_stacks/${id}`);
    expect(stack.json["Version"]).toBe(1);
    // The largest values are accepted.
    const largest = await update(id, { batchSize: 10_000, waitSeconds: 86_400, failureThreshold: 10_000 });
    expect(largest.status, largest.text).toBe(200);
    expect(largest.json["Version"]).toBe(2);
  });

  it("409 to pause, resume or abort a stack without a rollout; 404 for no stack", async () => {
    const id = await create("plain");
    for (const action of ["pause", "resume", "abort"]) {
      const answer = await api.call("POST", `/api/edge_stacks/${id}/rollout/${action}`);
      expect(answer.status, action).toBe(409);
      expect(answer.json["code"]).toBe("conflict");
      expect(String(answer.json["message"])).toContain("has no rollout");
    }
    expect((await api.call("POST", "/api/edge_stacks/9999/rollout/pause")).status).toBe(404);
  });

  it("a PUT with a rollout shows Pier.Rollout; the first batch goes out, pause then resume then abort change its State", async () => {
    const id = await create("staged");
    const answer = await update(id, { batchSize: 2, waitSeconds: 3600, failureThreshold: 0 });
    expect(answer.status, answer.text).toBe(200);
    const rollout = async () => (await api.call("GET", `/api/edge_stacks/${id}`)).json["Pier"] as { Rollout: Record<string, unknown> };
    expect((await rollout()).Rollout).toMatchObject({ State: "running", Version: 2, PreviousVersion: 1, Total: 4, Succeeded: 0, Failed: 0, Reason: null });
    expect((await api.call("POST", `/api/edge_stacks/${id}/rollout/resume`)).status).toBe(409);
    expect((await api.call("POST", `/api/edge_stacks/${id}/rollout/pause`)).status).toBe(204);
    expect((await rollout()).Rollout).toMatchObject({ State: "paused", Reason: "paused by an administrator", NextBatchAt: null });
    expect((await api.call("POST", `/api/edge_stacks/${id}/rollout/resume`)).status).toBe(204);
    // Resume ticks: the first batch is released.
    expect((await rollout()).Rollout).toMatchObject({ State: "running", Released: 2 });
    expect((await api.call("POST", `/api/edge_stacks/${id}/rollout/abort`)).status).toBe(204);
    expect((await rollout()).Rollout).toMatchObject({ State: "aborted", Released: 0, Reason: "aborted by an administrator" });
    expect((await api.call("POST", `/api/edge_stacks/${id}/rollout/abort`)).status).toBe(409);
  });
});
