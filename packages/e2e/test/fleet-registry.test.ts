import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PierApi,
  docker,
  run,
  startDockerEngines,
  startDockerRegistry,
  startPierAgent,
  startPierServer,
  tempDir,
  until,
  type DockerEngines,
  type DockerRegistry,
  type PierProcess,
  type PierServer,
  type TempDir,
} from "../src/index.ts";

/**
 * A private registry for real (docs/fleet.md "Registries"): Debian's docker-registry with
 * htpasswd authentication holds the only copy of the image; a stack naming the registry runs on
 * the device in its group (its own Docker engine, which has never seen the image), whose kept
 * desired state holds the credentials; a device outside the group gets neither the stack nor
 * the password; an anonymous pull is refused.
 */
const password = "correct horse battery staple";
const registryPassword = `reg-${process.pid}-${Date.now().toString(36)}`;
const suffix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const stackName = `private-${suffix}`;
const running = 7;

let dir: TempDir;
let engines: DockerEngines;
let registry: DockerRegistry;
let server: PierServer;
let api: PierApi;
let image: string;
const agents: { agent: PierProcess; environmentId: number; dataDir: string }[] = [];

beforeAll(async () => {
  dir = tempDir("fleet-registry");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  const [started, pierServer, privateRegistry] = await Promise.all([
    startDockerEngines(1, dir.file("engines")),
    startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] }),
    startDockerRegistry(dir.file("registry"), { auth: { username: "fleet", password: registryPassword } }),
  ]);
  engines = started;
  server = pierServer;
  registry = privateRegistry;
  image = registry.push(`pier-e2e/private-${suffix}:1`);
  api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
  const engine = engines.engines[0]!;
  // The device in the group runs the extra engine; the one outside needs no engine to be told nothing.
  for (const [index, dockerHost] of [engine.host, "unix:///nonexistent/docker.sock"].entries()) {
    const dataDir = dir.file(`agent-${index + 1}`);
    const agent = startPierAgent({ edgeId: `registry-${suffix}-${index + 1}`, edgeKey: server.edgeKey, dataDir, env: { DOCKER_HOST: dockerHost, PIER_AGENT_TEST_SETTLE_SECONDS: "2" } });
    const [, id] = await agent.waitFor(/as environment (\d+)/);
    agents.push({ agent, environmentId: Number(id), dataDir });
  }
  for (const { agent, environmentId } of agents) {
    expect((await api.call("POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
    await agent.waitFor(/associated by the administrator/);
  }
}, 240_000);

afterAll(async () => {
  await Promise.all(agents.map(({ agent }) => agent.stop()));
  await server?.stop();
  await engines?.stop();
  await registry?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("a stack pulling from a private registry (htpasswd)", () => {
  it("the registry refuses anonymous requests and pulls (401, unauthorized)", async () => {
    expect((await fetch(`http://${registry.address}/v2/`)).status).toBe(401);
    const pull = run("docker", ["pull", image], { env: { ...engines.engines[0]!.env, DOCKER_CONFIG: dir.file("empty-docker-config") }, timeoutMs: 60_000 });
    expect(pull.status).not.toBe(0);
    expect(pull.output).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
    // Precondition of the next test: the device's engine does not hold the image.
    expect(run("docker", ["image", "inspect", image], { env: engines.engines[0]!.env }).status).not.toBe(0);
  });

  it("deploys on the member with the registry's credentials, which only that device receives", async () => {
    const [member, outsider] = agents;
    const created = await api.call<{ Id: number; URL: string; Username: string }>("POST", "/api/registries", { Name: `private-${suffix}`, URL: registry.address, Authentication: true, Username: "fleet", Password: registryPassword, Type: 3 });
    expect(created.status).toBe(200);
    expect(JSON.stringify(created.body)).not.toContain(registryPassword);
    const tag = await api.call<{ ID: number }>("POST", "/api/tags", { Name: `registry-${suffix}` });
    expect((await api.call("PUT", `/api/endpoints/${member!.environmentId}`, { TagIDs: [tag.body.ID] })).status).toBe(200);
    const group = await api.call<{ Id: number; Endpoints: number[] }>("POST", "/api/edge_groups", { Name: `registry-${suffix}`, Dynamic: true, TagIDs: [tag.body.ID], Endpoints: [], PartialMatch: false });
    expect(group.body.Endpoints).toEqual([member!.environmentId]);
    const stack = await api.call<{ Id: number; Registries: number[] }>("POST", "/api/edge_stacks/create/string", {
      name: stackName,
      stackFileContent: `services:\n  app:\n    image: ${image}\n    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`,
      edgeGroups: [group.body.Id],
      deploymentType: 0,
      registries: [created.body.Id],
    });
    expect(stack.status, JSON.stringify(stack.body)).toBe(200);
    expect(stack.body.Registries).toEqual([created.body.Id]);

    let seen: unknown;
    const status = await until(
      "the member to report the stack running",
      async () => {
        const answer = await api.call<{ Status: Record<string, { Status: { Type: number; Error: string }[] }> }>("GET", `/api/edge_stacks/${stack.body.Id}`);
        const types = answer.body.Status[String(member!.environmentId)]?.Status ?? [];
        seen = types;
        return types.some((entry) => entry.Type === running) ? types : undefined;
      },
      120_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; status ${JSON.stringify(seen)}; the agent said:\n${member!.agent.output().slice(-4000)}`);
    });
    expect(status.filter((entry) => entry.Error)).toEqual([]);
    const containers = docker(["ps", "--filter", `label=com.docker.compose.project=${stackName}`, "--format", "{{.Image}} {{.State}}"], engines.engines[0]!.env);
    expect(containers).toBe(`${image} running`);

    // The member's kept desired state names the registry with its password (0600); the outsider's holds neither.
    const memberState = join(member!.dataDir, "fleet", "desired-state.json");
    expect(statSync(memberState).mode & 0o777).toBe(0o600);
    const kept = JSON.parse(readFileSync(memberState, "utf8")) as { stacks: { name: string; registries: { serverAddress: string; username: string; password: string }[] }[] };
    expect(kept.stacks.find((entry) => entry.name === stackName)?.registries).toEqual([{ serverAddress: registry.address, username: "fleet", password: registryPassword }]);
    const outsiderState = join(outsider!.dataDir, "fleet", "desired-state.json");
    const outsiderText = await until("the outsider's desired state", () => Promise.resolve(readIfExists(outsiderState)), 30_000).catch(() => "");
    expect(outsiderText).not.toContain(registryPassword);
    expect(outsiderText).not.toContain(stackName);
    // Nor did the server log it.
    expect(server.output()).not.toContain(registryPassword);
  }, 180_000);
});

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
