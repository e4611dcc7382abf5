import { fleetLimits } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`;

/** Edge stacks through the API of a real server on loopback (Portainer's routes and shapes). */
describe("edge stacks API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let groupId: number;
  let otherGroupId: number;
  let members: number[];

  beforeAll(async () => {
    dir = tempDir("edge-stacks-api");
    ({ server, api } = await startAdminServer(dir, password));
    members = [];
    for (const name of ["site-1", "site-2"]) members.push((await server.store.environments.create({ name, type: "edge-agent", userTrusted: true })).id);
    const group = await api.call("POST", "/api/edge_groups", { body: { Name: "sites", Dynamic: false, Endpoints: members } });
    expect(group.status, group.text).toBe(200);
    groupId = group.json["Id"] as number;
    const other = await api.call("POST", "/api/edge_groups", { body: { Name: "empty", Dynamic: false, Endpoints: [] } });
    otherGroupId = other.json["Id"] as number;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const create = (body: Record<string, unknown>) => api.call("POST", "/api/edge_stacks/create/string", { body: { deploymentType: 0, edgeGroups: [groupId], stackFileContent: compose("nginx:1"), ...body } });

  it("answers 401 without a login on every route", async () => {
    const routes: [string, string][] = [
      ["POST", "/api/edge_stacks/create/string"],
      ["GET", "/api/edge_stacks"],
      ["GET", "/api/edge_stacks/1"],
      ["PUT", "/api/edge_stacks/1"],
      ["DELETE", "/api/edge_stacks/1"],
      ["GET", "/api/edge_stacks/1/file"],
    ];
    for (const [method, path] of routes) {
      const answer = await api.call(method, path, { token: null, ...(method === "POST" || method === "PUT" ? { body: { name: "x", stackFileContent: compose("a"), edgeGroups: [1], deploymentType: 0 } } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
    // Precondition: the same route answers a logged-in user.
    expect((await api.call("GET", "/api/edge_stacks")).status).toBe(200);
  });

  it("creates a stack at version 1 in Portainer's shape, lists, inspects and serves its file; a taken name is 409", async () => {
    const created = await create({ name: "web", envVars: [{ name: "TAG", value: "1" }], stackFileContent: compose("nginx:${TAG}") });
    expect(created.status, created.text).toBe(200);
    const id = created.json["Id"] as number;
    expect(created.json).toEqual({
      Id: id,
      Name: "web",
      Status: {},
      CreationDate: expect.any(Number) as unknown,
      EdgeGroups: [groupId],
      ProjectPath: "",
      EntryPoint: "docker-compose.yml",
      Version: 1,
      NumDeployments: 2,
      ManifestPath: "",
      DeploymentType: 0,
      EnvVars: [{ name: "TAG", value: "1" }],
      Registries: [],
      Pier: { UpdatedDate: expect.any(Number) as unknown },
    });
    expect(Math.abs((created.json["CreationDate"] as number) - Date.now() / 1000)).toBeLessThan(60);
    expect((await api.call("GET", `/api/edge_stacks/${id}`)).json).toEqual(created.json);
    expect((await api.call("GET", "/api/edge_stacks")).json).toContainEqual(created.json);
    expect((await api.call("GET", `/api/edge_stacks/${id}/file`)).json).toEqual({ StackFileContent: compose("nginx:${TAG}") });
    // The members' desired state now holds it (the desired-state service was told); an outsider's does not.
    const outsider = (await server.store.environments.create({ name: "outsider", type: "edge-agent", userTrusted: true })).id;
    const versions = async () => Promise.all([...members, outsider].map(async (env) => (await server.store.environments.get(env))?.desiredStateVersion));
    const [first, second, none] = await versions();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(second).toBe(first);
    expect(none).toBeUndefined();
    expect((await api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: compose("nginx:${TAG}"), edgeGroups: [groupId], updateVersion: true } })).json).toMatchObject({ Version: 2 });
    const [afterUpdate] = await versions();
    expect(afterUpdate).toMatch(/^[0-9a-f]{64}$/);
    expect(afterUpdate).not.toBe(first);
    const taken = await create({ name: "web" });
    expect(taken.status).toBe(409);
    expect(taken.json).toMatchObject({ code: "conflict", field: "name" });
    // The group now says a stack uses it, and cannot be deleted.
    expect((await api.call("GET", `/api/edge_groups/${groupId}`)).json).toMatchObject({ HasEdgeStack: true });
    expect((await api.call("DELETE", `/api/edge_groups/${groupId}`)).status).toBe(409);
    const audit = await server.store.audit.list({ limit: 20 });
    expect(audit.find((event) => event.kind === "edge_stack_created")?.detail).toMatchObject({ stackId: id, name: "web", version: 1, by: "admin" });
  });

  it("refuses an invalid compose file with 400 naming its path, and unknown groups and registries naming them", async () => {
    const build = await create({ name: "built", stackFileContent: "services:\n  web:\n    image: web\n    build: .\n" });
    expect(build.status).toBe(400);
    expect(build.json).toMatchObject({ code: "bad_request", field: "stackFileContent", message: "Invalid stackFileContent: services.web.build: not supported: Pier deploys images; build it and push it to a registry" });
    const unset = await create({ name: "unset", stackFileContent: compose("nginx:${TAG}") });
    expect(unset.json).toMatchObject({ field: "stackFileContent", message: "Invalid stackFileContent: services.web.image: ${TAG} is not set" });
    const groups = await create({ name: "nogroup", edgeGroups: [groupId, 9998, 9999] });
    expect(groups.status).toBe(400);
    expect(groups.json).toMatchObject({ field: "edgeGroups", message: "Invalid request: edgeGroups: no edge group with id 9998, 9999." });
    const registries = await create({ name: "noregistry", registries: [4242] });
    expect(registries.json).toMatchObject({ field: "registries", message: "Invalid request: registries: no registry with id 4242." });
    expect((await create({ name: "Web!" })).json).toMatchObject({ field: "name" });
    expect((await create({ name: "nogroups", edgeGroups: [] })).json).toMatchObject({ field: "edgeGroups" });
    expect((await create({ name: "kube", deploymentType: 1 })).json).toMatchObject({ field: "deploymentType" });
    expect((await create({ name: "dupvar", envVars: [{ name: "A", value: "1" }, { name: "A", value: "2" }] })).json).toMatchObject({ field: "envVars" });
    // Nothing was stored by any of them.
    expect((await api.call("GET", "/api/edge_stacks")).json).not.toContainEqual(expect.objectContaining({ Name: "built" }));
  });

  it("holds every input to its limit (one over is 400 naming the field; the limit itself passes)", async () => {
    const base = compose("nginx:1");
    const atLimit = base + "#".repeat(fleetLimits.composeFileBytes - base.length - 1) + "\n";
    expect((await create({ name: "big-ok", stackFileContent: atLimit })).status).toBe(200);
    expect((await create({ name: "too-big", stackFileContent: `${atLimit}#` })).json).toMatchObject({ code: "bad_request", field: "stackFileContent" });
    const vars = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `V${i}`, value: "x" }));
    expect((await create({ name: "vars-ok", envVars: vars(fleetLimits.envVars) })).status).toBe(200);
    expect((await create({ name: "vars-over", envVars: vars(fleetLimits.envVars + 1) })).json).toMatchObject({ field: "envVars" });
    expect((await create({ name: "name-over", envVars: [{ name: "N".repeat(fleetLimits.envVarName + 1), value: "" }] })).json).toMatchObject({ field: "envVars.0.name" });
    expect((await create({ name: "value-over", envVars: [{ name: "V", value: "v".repeat(fleetLimits.envVarValue + 1) }] })).json).toMatchObject({ field: "envVars.0.value" });
    expect((await create({ name: "value-ok", envVars: [{ name: "V", value: "v".repeat(fleetLimits.envVarValue) }] })).status).toBe(200);
    const many = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    expect((await create({ name: "reg-over", registries: many(fleetLimits.registriesPerStack + 1) })).json).toMatchObject({ field: "registries" });
    expect((await create({ name: "groups-over", edgeGroups: many(101) })).json).toMatchObject({ field: "edgeGroups" });
    expect((await create({ name: "a".repeat(64) })).json).toMatchObject({ field: "name" });
    expect((await create({ name: "a".repeat(63) })).status).toBe(200);
  });

  it("updates: a new file is version + 1, groups alone keep the version, updateVersion forces one; unknown stack 404", async () => {
    const { json } = await create({ name: "updated" });
    const id = json["Id"] as number;
    const moved = await api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: compose("nginx:1"), edgeGroups: [otherGroupId], updateVersion: false } });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.json).toMatchObject({ Version: 1, EdgeGroups: [otherGroupId], NumDeployments: 0 });
    const newFile = await api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: compose("nginx:2"), edgeGroups: [groupId], updateVersion: false } });
    expect(newFile.json).toMatchObject({ Version: 2, EdgeGroups: [groupId], NumDeployments: 2 });
    expect((await api.call("GET", `/api/edge_stacks/${id}/file`)).json).toEqual({ StackFileContent: compose("nginx:2") });
    const forced = await api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: compose("nginx:2"), edgeGroups: [groupId], updateVersion: true } });
    expect(forced.json).toMatchObject({ Version: 3 });
    // Every version's file is kept and served (a rollback PUTs an old one again).
    expect((await api.call("GET", `/api/edge_stacks/${id}/file?version=1`)).json).toEqual({ StackFileContent: compose("nginx:1") });
    expect((await api.call("GET", `/api/edge_stacks/${id}/file?version=3`)).json).toEqual({ StackFileContent: compose("nginx:2") });
    expect((await api.call("GET", `/api/edge_stacks/${id}/file?version=4`)).status).toBe(404);
    expect((await api.call("GET", `/api/edge_stacks/${id}/file?version=0`)).status).toBe(400);
    const invalid = await api.call("PUT", `/api/edge_stacks/${id}`, { body: { stackFileContent: "services:\n  web:\n    image: a\n    env_file: .env\n", edgeGroups: [groupId], updateVersion: true } });
    expect(invalid.json).toMatchObject({ field: "stackFileContent", message: expect.stringContaining("services.web.env_file: not supported") as unknown });
    expect((await api.call("GET", `/api/edge_stacks/${id}`)).json).toMatchObject({ Version: 3 });
    expect((await api.call("PUT", "/api/edge_stacks/424242", { body: { stackFileContent: compose("a"), edgeGroups: [groupId] } })).status).toBe(404);
  });

  it("deletes with 204, then 404 for the stack, its file and a second delete", async () => {
    const { json } = await create({ name: "deleted" });
    const id = json["Id"] as number;
    expect((await api.call("DELETE", `/api/edge_stacks/${id}`)).status).toBe(204);
    expect((await api.call("GET", `/api/edge_stacks/${id}`)).status).toBe(404);
    expect((await api.call("GET", `/api/edge_stacks/${id}/file`)).status).toBe(404);
    expect((await api.call("DELETE", `/api/edge_stacks/${id}`)).status).toBe(404);
    // The name is free again.
    expect((await create({ name: "deleted" })).status).toBe(200);
  });
});
