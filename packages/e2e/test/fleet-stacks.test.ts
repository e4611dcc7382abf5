import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PierApi,
  docker,
  run,
  loadImages,
  startDockerEngines,
  startPierAgent,
  startPierServer,
  tempDir,
  testImage,
  until,
  type DockerEngine,
  type DockerEngines,
  type PierProcess,
  type PierServer,
  type TempDir,
} from "../src/index.ts";

/**
 * Fleet deployment for real (issue 19, docs/fleet.md): a server, three agent processes, each
 * with its own Docker engine (startDockerEngines), associated; then, through the API in
 * Portainer's shapes: tags → a dynamic edge group → an edge stack running on every member with
 * the compose labels, updated, failing on one device only (rolled back there), reaching a device
 * that was offline when it was created, and removed from a device that leaves the group.
 * The other real-engine scenarios have files of their own, run in parallel with this
 * one: a private registry's pull in fleet-registry.test.ts, an edge job's output collected in
 * fleet-jobs.test.ts, Swarm in the agent's swarm-engine tests.
 */
const password = "correct horse battery staple";
const suffix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const stackName = `fleet-${suffix}`;
/** An image present on the first two engines only: the third device cannot pull it (no registry here). */
const twoEngineImage = `pier-test/fleet-${suffix}:only-two`;
const status = { error: 2, acknowledged: 3, removed: 4, running: 7, rolledBack: 13 } as const;

interface Device {
  readonly edgeId: string;
  readonly engine: DockerEngine;
  readonly dataDir: string;
  agent: PierProcess;
  environmentId: number;
}

interface EdgeStack {
  Id: number;
  Name: string;
  Status: Record<string, { EndpointID: number; Status: { Type: number; Time: number; Error: string }[] }>;
  CreationDate: number;
  EdgeGroups: number[];
  Version: number;
  NumDeployments: number;
  DeploymentType: number;
}

let dir: TempDir;
let engines: DockerEngines;
let server: PierServer;
let api: PierApi;
const devices: Device[] = [];
let tagId: number;
let groupId: number;
let stackId: number;

function compose(image: string): string {
  // sh as PID 1 with a trap stops at once on SIGTERM (busybox `sleep` alone ignores it: 10 s per recreate).
  return `services:\n  web:\n    image: ${image}\n    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n    environment:\n      GREETING: \${GREETING}\n`;
}

/** The stack's containers on one engine, with what a test checks. */
function stackContainers(engine: DockerEngine): { id: string; image: string; greeting: string; labels: Record<string, string>; running: boolean }[] {
  const ids = docker(["ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${stackName}`], engine.env).split("\n").filter(Boolean);
  if (ids.length === 0) return [];
  // One inspect for all; a container removed meanwhile (a recreate) is left out, the caller polls again.
  const answer = run("docker", ["inspect", ...ids], { env: engine.env, timeoutMs: 30_000 });
  const found = JSON.parse(answer.stdout.trim() === "" ? "[]" : answer.stdout) as { Id: string; Config: { Image: string; Env: string[]; Labels: Record<string, string> }; State: { Running: boolean } }[];
  return found.map((inspected) => {
    return {
      id: inspected.Id,
      image: inspected.Config.Image,
      greeting: inspected.Config.Env.find((e) => e.startsWith("GREETING="))?.slice("GREETING=".length) ?? "",
      labels: inspected.Config.Labels,
      running: inspected.State.Running,
    };
  });
}

async function getStack(): Promise<EdgeStack> {
  const res = await api.call<EdgeStack>("GET", `/api/edge_stacks/${stackId}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** The status types the device reported for the stack, oldest first. */
function types(stack: EdgeStack, device: Device): number[] {
  return (stack.Status[String(device.environmentId)]?.Status ?? []).map((s) => s.Type);
}

async function untilStatus(device: Device, type: number, timeoutMs = 90_000): Promise<EdgeStack> {
  return until(`environment ${device.environmentId} to report status ${type}`, async () => {
    const stack = await getStack();
    return types(stack, device).includes(type) ? stack : undefined;
  }, timeoutMs);
}

async function untilContainers(device: Device, what: string, check: (containers: ReturnType<typeof stackContainers>) => boolean, timeoutMs = 90_000) {
  return until(`${what} on ${device.engine.name}`, () => {
    const containers = stackContainers(device.engine);
    return Promise.resolve(check(containers) ? containers : undefined);
  }, timeoutMs);
}

/** A device's agent; a deployed version counts as running after 2 s up instead of 10 (the test-only settle window). */
function startAgent(device: Pick<Device, "edgeId" | "engine" | "dataDir">): PierProcess {
  return startPierAgent({ edgeId: device.edgeId, edgeKey: server.edgeKey, dataDir: device.dataDir, env: { DOCKER_HOST: device.engine.host, PIER_AGENT_TEST_SETTLE_SECONDS: "2" } });
}

beforeAll(async () => {
  dir = tempDir("fleet-stacks");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  const [started, pierServer] = await Promise.all([startDockerEngines(3, dir.file("engines")), startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] })]);
  engines = started;
  server = pierServer;
  docker(["tag", testImage, twoEngineImage]);
  for (const [index, engine] of engines.engines.entries()) loadImages(engine, index < 2 ? [testImage, twoEngineImage] : [testImage]);
  api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
  for (const [index, engine] of engines.engines.entries()) {
    const device = { edgeId: `fleet-${suffix}-${index + 1}`, engine, dataDir: dir.file(`agent-${index + 1}`) };
    const agent = startAgent(device);
    const [, id] = await agent.waitFor(/as environment (\d+)/);
    devices.push({ ...device, agent, environmentId: Number(id) });
  }
  for (const device of devices) {
    expect((await api.call("POST", `/api/endpoints/${device.environmentId}/edge/trust`)).status).toBe(204);
    await device.agent.waitFor(/associated by the administrator/);
  }
}, 240_000);

afterAll(async () => {
  await Promise.all(devices.map((device) => device.agent.stop()));
  await server?.stop();
  await engines?.stop();
  try {
    docker(["rmi", twoEngineImage]);
  } catch {
    // not tagged
  }
  await dir?.[Symbol.asyncDispose]();
});

describe("edge stacks on three real Docker engines", () => {
  it("tags two devices and a dynamic edge group finds them (Portainer's shapes)", async () => {
    const tag = await api.call<{ ID: number; Name: string }>("POST", "/api/tags", { Name: `site-${suffix}` });
    expect(tag.status).toBe(200);
    expect(tag.body).toEqual({ ID: expect.any(Number) as unknown, Name: `site-${suffix}` });
    tagId = tag.body.ID;
    for (const device of devices.slice(0, 2)) expect((await api.call("PUT", `/api/endpoints/${device.environmentId}`, { TagIDs: [tagId] })).status).toBe(200);
    const endpoint = await api.call<{ TagIds: number[] }>("GET", `/api/endpoints/${devices[0]!.environmentId}`);
    expect(endpoint.body.TagIds).toEqual([tagId]);
    const group = await api.call<Record<string, unknown>>("POST", "/api/edge_groups", { Name: `group-${suffix}`, Dynamic: true, TagIDs: [tagId], Endpoints: [], PartialMatch: false });
    expect(group.status).toBe(200);
    expect(group.body).toMatchObject({ Id: expect.any(Number) as unknown, Name: `group-${suffix}`, Dynamic: true, TagIds: [tagId], PartialMatch: false, HasEdgeStack: false, HasEdgeJob: false, EndpointTypes: [] });
    expect([...(group.body.Endpoints as number[])].sort()).toEqual([devices[0]!.environmentId, devices[1]!.environmentId].sort());
    groupId = group.body.Id as number;
  });

  it("creates a stack while the third member is offline: it runs on the two online members with compose labels and reaches Running (7)", async () => {
    const third = devices[2]!;
    await third.agent.stop();
    expect((await api.call("PUT", `/api/endpoints/${third.environmentId}`, { TagIDs: [tagId] })).status).toBe(200);
    const members = await api.call<{ Endpoints: number[] }>("GET", `/api/edge_groups/${groupId}`);
    expect(members.body.Endpoints).toContain(third.environmentId);

    const created = await api.call<EdgeStack>("POST", "/api/edge_stacks/create/string", {
      name: stackName,
      stackFileContent: compose(testImage),
      edgeGroups: [groupId],
      deploymentType: 0,
      envVars: [{ name: "GREETING", value: "one" }],
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ Id: expect.any(Number) as unknown, Name: stackName, EdgeGroups: [groupId], Version: 1, DeploymentType: 0, CreationDate: expect.any(Number) as unknown });
    stackId = created.body.Id;
    const file = await api.call<{ StackFileContent: string }>("GET", `/api/edge_stacks/${stackId}/file`);
    expect(file.body).toEqual({ StackFileContent: compose(testImage) });

    for (const device of devices.slice(0, 2)) {
      const [container] = await untilContainers(device, "the stack's container running", (list) => list.length === 1 && list[0]!.running);
      expect(container!.greeting).toBe("one");
      expect(container!.labels).toMatchObject({ "com.docker.compose.project": stackName, "com.docker.compose.service": "web", "com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False" });
      expect(container!.labels["com.docker.compose.config-hash"]).toMatch(/\S/);
      const stack = await untilStatus(device, status.running);
      expect(types(stack, device)).toContain(status.acknowledged);
      expect(stack.Status[String(device.environmentId)]).toMatchObject({ EndpointID: device.environmentId });
    }
    // The offline member has nothing yet.
    expect(stackContainers(third.engine)).toEqual([]);
    expect(types(await getStack(), third)).not.toContain(status.running);
  });

  it("deploys to the device that was offline when it comes back", async () => {
    const third = devices[2]!;
    third.agent = startAgent(third);
    const [container] = await untilContainers(third, "the stack after reconnecting", (list) => list.length === 1 && list[0]!.running);
    expect(container!.greeting).toBe("one");
    await untilStatus(third, status.running);
  });

  it("replaces the containers on every member when the stack is updated (new env value)", async () => {
    const before = new Map(devices.map((device) => [device.edgeId, stackContainers(device.engine)[0]?.id]));
    const updated = await api.call<EdgeStack>("PUT", `/api/edge_stacks/${stackId}`, { stackFileContent: compose(testImage), edgeGroups: [groupId], updateVersion: true, envVars: [{ name: "GREETING", value: "two" }] });
    expect(updated.status).toBe(200);
    expect(updated.body.Version).toBe(2);
    for (const device of devices) {
      const [container] = await untilContainers(device, "the container replaced with GREETING=two", (list) => list.length === 1 && list[0]!.running && list[0]!.greeting === "two");
      expect(container!.id).not.toBe(before.get(device.edgeId));
    }
  });

  it("rolls back the one device that cannot pull the new image while the others run it", async () => {
    const [one, two, third] = devices as [Device, Device, Device];
    const updated = await api.call<EdgeStack>("PUT", `/api/edge_stacks/${stackId}`, { stackFileContent: compose(twoEngineImage), edgeGroups: [groupId], updateVersion: true, envVars: [{ name: "GREETING", value: "three" }] });
    expect(updated.status).toBe(200);
    expect(updated.body.Version).toBe(3);
    for (const device of [one, two]) {
      await untilContainers(device, "the new image running", (list) => list.length === 1 && list[0]!.running && list[0]!.image === twoEngineImage && list[0]!.greeting === "three");
    }
    const stack = await untilStatus(third, status.rolledBack);
    const reported = stack.Status[String(third.environmentId)]!.Status;
    const error = reported.find((s) => s.Type === status.error);
    expect(error?.Error).toMatch(new RegExp(twoEngineImage.split(":")[0]!.replaceAll("/", "\\/")));
    expect(reported.findIndex((s) => s.Type === status.error)).toBeLessThan(reported.findIndex((s) => s.Type === status.rolledBack));
    // Still the previous version on the failing device.
    const [container] = await untilContainers(third, "the previous version running", (list) => list.length === 1 && list[0]!.running);
    expect(container!.image).toBe(testImage);
    expect(container!.greeting).toBe("two");
  });

  it("removes the stack from a device whose tag is removed (it leaves the group)", async () => {
    const [one, two] = devices as [Device, Device, Device];
    expect((await api.call("PUT", `/api/endpoints/${one.environmentId}`, { TagIDs: [] })).status).toBe(200);
    await untilContainers(one, "the stack's containers removed", (list) => list.length === 0);
    const stack = await until("the removal reported", async () => {
      const current = await getStack();
      const entry = current.Status[String(one.environmentId)];
      return entry === undefined || entry.Status.at(-1)?.Type === status.removed ? current : undefined;
    });
    expect(stack.Status[String(one.environmentId)]?.Status.at(-1)?.Type ?? status.removed).toBe(status.removed);
    // The others keep it.
    expect(stackContainers(two.engine)).toHaveLength(1);
  });

  it("deletes the stack: 204, and its containers leave every device", async () => {
    expect((await api.call("DELETE", `/api/edge_stacks/${stackId}`)).status).toBe(204);
    for (const device of devices) await untilContainers(device, "no container of the deleted stack", (list) => list.length === 0);
    expect((await api.call("GET", `/api/edge_stacks/${stackId}`)).status).toBe(404);
  });
});
