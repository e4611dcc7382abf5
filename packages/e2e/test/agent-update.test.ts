import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImages } from "../../../scripts/build-images.ts";
import { docker, run, startBuiltInCaServer, tempDir, until, type PierApi, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Agent updates (docs/fleet.md "Agent updates") on the machine's Docker engine with the real
 * agent image: an agent running in a container (its /data in a named volume, the Docker socket
 * mounted, host network to reach the server on loopback) is asked through
 * /api/edge_update_schedules to run another image. A broken image (its agent exits at start)
 * is rolled back after the deadline; a working one (the same agent, labelled as a new version)
 * takes the container's place, keeps the device's identity, and the result shows per device.
 */
const password = "correct horse battery staple";
const suffix = randomBytes(4).toString("hex");
const container = `pier-e2e-agent-update-${suffix}`;
const volume = `pier-e2e-agent-update-data-${suffix}`;
const newImage = `pier-test/agent-update-${suffix}:new`;
const brokenImage = `pier-test/agent-update-${suffix}:broken`;
const edgeId = `agent-update-${suffix}`;
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let environmentId: number;
let groupId: number;

interface Schedule {
  id: number;
  agentImage: string;
  environmentIds: number[];
  status: Record<string, { status: string; agentVersion?: string; error?: string }>;
}

/** An image made FROM the real agent image with a Dockerfile read from stdin (no context). */
function buildFrom(tag: string, lines: string): void {
  execFileSync("docker", ["build", "--quiet", "-t", tag, "-"], { input: `FROM pier-agent:latest\n${lines}\n`, stdio: ["pipe", "pipe", "pipe"], timeout: 120_000 });
}

function inspect(name: string, format: string): string {
  return docker(["inspect", name, "--format", format]);
}

function containerNames(): string[] {
  return docker(["ps", "-a", "--filter", `name=${container}`, "--format", "{{.Names}}"]).split("\n").filter(Boolean).sort();
}

beforeAll(async () => {
  await buildImages();
  buildFrom(newImage, `LABEL io.pier.test.version="new-${suffix}"`);
  // The agent of this image refuses its arguments and exits: a new version that never checks in.
  buildFrom(brokenImage, `CMD ["--log-level", "nonsense"]`);
  dir = tempDir("agent-update");
  ({ server, api } = await startBuiltInCaServer(dir, password));
  docker(["volume", "create", volume]);
  docker([
    "run", "-d", "--name", container, "--network", "host", "--restart", "unless-stopped", "--stop-timeout", "5",
    "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", `${volume}:/data`,
    "-e", "EDGE=1", "-e", `EDGE_ID=${edgeId}`, "-e", `EDGE_KEY=${server.edgeKey}`,
    "pier-agent:latest",
  ]);
  const waiting = await until("the agent in the waiting room", async () => (await api.call<{ Id: number; EdgeID: string }[]>("GET", "/api/endpoints?edgeDeviceUntrusted=true")).body.find((e) => e.EdgeID === edgeId), 60_000);
  environmentId = waiting.Id;
  expect((await api.call("POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
  const group = await api.call<{ Id: number }>("POST", "/api/edge_groups", { Name: `agents-${suffix}`, Dynamic: false, TagIDs: [], Endpoints: [environmentId], PartialMatch: false });
  expect(group.status).toBe(200);
  groupId = group.body.Id;
}, 240_000);

afterAll(async () => {
  for (const name of containerNames()) run("docker", ["rm", "-f", name], { timeoutMs: 30_000 });
  for (const name of docker(["ps", "-a", "--filter", `label=io.pier.agent-update`, "--filter", `name=${container}`, "--format", "{{.Names}}"]).split("\n").filter(Boolean)) run("docker", ["rm", "-f", name], { timeoutMs: 30_000 });
  run("docker", ["volume", "rm", "-f", volume], { timeoutMs: 30_000 });
  run("docker", ["image", "rm", "-f", newImage, brokenImage], { timeoutMs: 30_000 });
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

async function schedule(name: string, image: string): Promise<number> {
  const created = await api.call<Schedule>("POST", "/api/edge_update_schedules", { name, groupIDs: [groupId], agentImage: image, deadlineSeconds: 30, type: 1 });
  expect(created.status).toBe(200);
  expect(created.body.environmentIds).toEqual([environmentId]);
  expect(created.body.status).toEqual({ [String(environmentId)]: { status: "pending" } });
  return created.body.id;
}

async function result(id: number, timeoutMs: number): Promise<{ status: string; agentVersion?: string; error?: string }> {
  return until(
    `schedule ${id}'s result`,
    async () => {
      const status = (await api.call<Schedule>("GET", `/api/edge_update_schedules/${id}`)).body.status[String(environmentId)];
      return status && status.status !== "pending" ? status : undefined;
    },
    timeoutMs,
  );
}

describe("agent updates", () => {
  it("a new agent that does not check in within the deadline is removed and the old container runs again", async () => {
    expect(inspect(container, "{{.Config.Image}}")).toBe("pier-agent:latest");
    const oldId = inspect(container, "{{.Id}}");
    const id = await schedule(`broken-${suffix}`, brokenImage);
    const outcome = await result(id, 120_000);
    expect(outcome.status).toBe("rolled_back");
    expect(outcome.error).toMatch(/did not check in within 30 s/);
    // The same container (same id, so the same /data), under its name, running the old image.
    expect(inspect(container, "{{.Id}}")).toBe(oldId);
    expect(inspect(container, "{{.Config.Image}} {{.State.Running}}")).toBe("pier-agent:latest true");
    expect(containerNames()).toEqual([container]);
  }, 180_000);

  it("a new agent that checks in takes the container's place with the same /data, and the device reports updated", async () => {
    const oldId = inspect(container, "{{.Id}}");
    const id = await schedule(`new-${suffix}`, newImage);
    const outcome = await result(id, 120_000);
    expect(outcome).toMatchObject({ status: "updated", agentVersion: "0.1.0" });
    await until("the previous container removed", () => Promise.resolve(containerNames().length === 1 || undefined), 30_000);
    expect(containerNames()).toEqual([container]);
    expect(inspect(container, "{{.Id}}")).not.toBe(oldId);
    expect(inspect(container, `{{.Config.Image}} {{index .Config.Labels "io.pier.test.version"}} {{.HostConfig.RestartPolicy.Name}}`)).toBe(`${newImage} new-${suffix} unless-stopped`);
    expect(inspect(container, `{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}`)).toBe(volume);
    // Same device: the environment is the one it was, connected, and no other appeared.
    const environments = (await api.call<{ Id: number; EdgeID: string }[]>("GET", "/api/endpoints")).body.filter((e) => e.EdgeID === edgeId);
    expect(environments.map((e) => e.Id)).toEqual([environmentId]);
  }, 180_000);
});
