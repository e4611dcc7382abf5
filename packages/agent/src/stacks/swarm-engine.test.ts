import { randomBytes, randomInt } from "node:crypto";
import { type DockerEngines, type TempDir, acquireHostLock, docker, freeLoopbackPort, loadImages, startDockerEngines, tempDir, testImage, until } from "@pier/e2e";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDockerHost } from "../docker/docker-client.ts";
import type { Logger } from "../logger.ts";
import { parseComposeProject } from "./compose-model.ts";
import type { DeployRequest } from "./stack-engine.ts";
import { SwarmEngine, stackEngineFor, stackLabels } from "./swarm-engine.ts";

/**
 * The swarm engine against a real swarm: a dedicated extra Docker engine (@pier/e2e's
 * `startDockerEngines`; never the main one, which other tests share), made a single-node swarm
 * manager for this file and stopped after it.
 */
const project = `pier-h5-${randomBytes(3).toString("hex")}`;
const lines: string[] = [];
const log: Logger = { log: (level, message) => void lines.push(`${level} ${message}`) };

let dir: TempDir;
let releaseSwarm: (() => void) | undefined;
let set: DockerEngines;
let env: { DOCKER_HOST: string };
let engine: SwarmEngine;

const longRunning = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;

function compose(replicas: number, greeting: string, extra = ""): string {
  return [
    "services:",
    "  web:",
    `    image: ${testImage}:latest`,
    // sh as PID 1 with a trap stops at once on SIGTERM (busybox `sleep` alone ignores it: 10 s per task).
    `    command: ${longRunning}`,
    "    environment:",
    `      GREETING: ${greeting}`,
    "    labels:",
    "      app: web",
    "    deploy:",
    `      replicas: ${replicas}`,
    "      restart_policy:",
    "        condition: any",
    "        delay: 1s",
    "      update_config:",
    "        parallelism: 2",
    "        order: start-first",
    "      resources:",
    "        limits:",
    "          memory: 64m",
    "          cpus: '0.5'",
    "      placement:",
    "        constraints: [node.role == manager]",
    extra,
  ].join("\n");
}

const worker = ["  worker:", `    image: ${testImage}:latest`, `    command: ${longRunning}`, "    deploy:", "      mode: global"].join("\n");

function request(version: number, file: string): DeployRequest {
  return {
    stackId: 77,
    version,
    project: parseComposeProject(project, file, [], `/tmp/${project}`),
    registries: [],
    workingDir: `/tmp/${project}`,
    configFile: `/tmp/${project}/${version}/docker-compose.yml`,
    signal: AbortSignal.timeout(120_000),
    onImagesPulled: () => undefined,
  };
}

interface InspectedService { Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Env: string[]; Args: string[]; Labels: Record<string, string> }; Resources: { Limits: { MemoryBytes: number; NanoCPUs: number } }; Placement: { Constraints: string[] } }; Mode: { Replicated?: { Replicas: number }; Global?: object }; UpdateConfig: { Parallelism: number; Order: string } }; Version: { Index: number } }

function inspectService(name: string): InspectedService {
  const [service] = JSON.parse(docker(["service", "inspect", name], env)) as InspectedService[];
  if (!service) throw new Error(`no service ${name}`);
  return service;
}

function runningTasks(name: string): number {
  return docker(["service", "ps", name, "--filter", "desired-state=running", "--format", "{{.CurrentState}}"], env)
    .split("\n")
    .filter((line) => line.startsWith("Running")).length;
}

beforeAll(async () => {
  dir = tempDir("swarm-engine");
  set = await startDockerEngines(1, dir.file("engines"));
  const [one] = set.engines;
  if (!one) throw new Error("no engine started");
  env = one.env;
  loadImages(one, [`${testImage}:latest`]);
  // One swarm at a time on this machine: every swarm node binds the gossip port 7946, which no flag moves.
  releaseSwarm = await acquireHostLock("swarm");
  // Ports and an address pool of its own: another swarm on this machine (a parallel test) must not collide.
  const listen = await freeLoopbackPort();
  // Docker takes a data path port in 1024–49151.
  const dataPath = 30_000 + randomInt(19_000);
  docker(["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", `127.0.0.1:${listen}`, "--data-path-port", String(dataPath), "--default-addr-pool", `10.${220 + randomInt(30)}.0.0/16`], env);
  // Convergence waits 20 s here (60 s by default) so the failing case answers sooner.
  engine = new SwarmEngine(parseDockerHost(env.DOCKER_HOST), log, { convergeMs: 12_000 });
}, 180_000);

afterAll(async () => {
  if (env) docker(["swarm", "leave", "--force"], env);
  releaseSwarm?.();
  await set?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("swarm engine (docker stack deploy equivalent)", () => {
  it("is chosen for an agent speaking for a cluster on a swarm manager; the standalone engine otherwise", async () => {
    const endpoint = parseDockerHost(env.DOCKER_HOST);
    const chosen = stackEngineFor(endpoint, log, "tasks.pier-agent");
    expect(await chosen.deployedStacks(AbortSignal.timeout(10_000))).toEqual([]);
    // Precondition: the swarm answers as a manager.
    expect(JSON.parse(docker(["info", "--format", "{{json .Swarm}}"], env))).toMatchObject({ LocalNodeState: "active", ControlAvailable: true });
    expect(stackEngineFor(endpoint, log, undefined)).not.toBeInstanceOf(SwarmEngine);
  });

  it("deploys a stack as services labelled like docker stack (namespace, image) on an overlay network, reaching their replica count", async () => {
    const first = request(1, `${compose(2, "hello")}\n${worker}\n`);
    const outcome = await engine.deploy(first);
    expect(outcome.touched).toEqual(expect.arrayContaining(["web", "worker"]));
    expect(await engine.verify(first, outcome.touched, 500)).toBeUndefined();
    const web = inspectService(`${project}_web`);
    expect(web.Spec.Labels).toMatchObject({ [stackLabels.namespace]: project, [stackLabels.image]: `${testImage}:latest`, "io.pier.edge-stack.id": "77" });
    expect(web.Spec.Mode.Replicated?.Replicas).toBe(2);
    expect(web.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=hello"]);
    expect(web.Spec.TaskTemplate.ContainerSpec.Args).toEqual(["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]);
    expect(web.Spec.TaskTemplate.ContainerSpec.Labels).toMatchObject({ app: "web", [stackLabels.namespace]: project });
    expect(web.Spec.TaskTemplate.Resources.Limits).toEqual({ MemoryBytes: 64 * 1024 * 1024, NanoCPUs: 500_000_000 });
    expect(web.Spec.TaskTemplate.Placement.Constraints).toEqual(["node.role == manager"]);
    expect(web.Spec.UpdateConfig).toMatchObject({ Parallelism: 2, Order: "start-first" });
    expect(inspectService(`${project}_worker`).Spec.Mode.Global).toEqual({});
    expect(runningTasks(`${project}_web`)).toBe(2);
    expect(runningTasks(`${project}_worker`)).toBe(1);
    const [network] = JSON.parse(docker(["network", "inspect", `${project}_default`], env)) as { Driver: string; Labels: Record<string, string> }[];
    expect(network).toMatchObject({ Driver: "overlay", Labels: { [stackLabels.namespace]: project } });
    // docker stack sees it as a stack.
    expect(docker(["stack", "ls", "--format", "{{.Name}} {{.Services}}"], env)).toContain(`${project} 2`);
    expect(await engine.deployedStacks(AbortSignal.timeout(10_000))).toEqual([{ stackId: 77, project }]);
    // Deploying the same version again changes nothing.
    const version = inspectService(`${project}_web`).Version.Index;
    expect((await engine.deploy(request(1, `${compose(2, "hello")}\n${worker}\n`))).steps).toEqual([]);
    expect(inspectService(`${project}_web`).Version.Index).toBe(version);
  });

  it("updates a changed service in place (same service, new spec and replica count) and removes a service that is gone", async () => {
    const before = inspectService(`${project}_web`);
    const second = request(2, `${compose(3, "bonjour")}\n`);
    const outcome = await engine.deploy(second);
    expect(outcome.steps).toEqual([`update service ${project}_web (${testImage}:latest)`, `remove service ${project}_worker`]);
    expect(await engine.verify(second, outcome.touched, 500)).toBeUndefined();
    const after = inspectService(`${project}_web`);
    expect(after.Version.Index).toBeGreaterThan(before.Version.Index);
    expect(after.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=bonjour"]);
    expect(after.Spec.Mode.Replicated?.Replicas).toBe(3);
    expect(after.Spec.Labels["io.pier.edge-stack.version"]).toBe("2");
    await until("3 web tasks running", () => Promise.resolve(runningTasks(`${project}_web`) === 3 ? true : undefined), 60_000);
    expect(docker(["service", "ls", "--format", "{{.Name}}"], env).split("\n")).not.toContain(`${project}_worker`);
  });

  it("says why a service does not reach its count (an image no node has)", async () => {
    const broken = request(3, compose(1, "x").replace(`${testImage}:latest`, "pier-test/missing:1"));
    const outcome = await engine.deploy(broken);
    const reason = await engine.verify({ ...broken, signal: AbortSignal.timeout(120_000) }, outcome.touched, 500);
    expect(reason).toMatch(new RegExp(`^service ${project}_web runs 0 of 1 task\\(s\\): .*pier-test/missing`));
  }, 120_000);

  it("removes the stack: its services and its networks", async () => {
    // Precondition: the service and the network exist.
    expect(docker(["network", "ls", "--format", "{{.Name}}"], env).split("\n")).toContain(`${project}_default`);
    expect(await engine.remove(project, AbortSignal.timeout(60_000))).toBe(true);
    expect(docker(["service", "ls", "--filter", `label=${stackLabels.namespace}=${project}`, "--format", "{{.Name}}"], env)).toBe("");
    expect(docker(["network", "ls", "--format", "{{.Name}}"], env).split("\n")).not.toContain(`${project}_default`);
    expect(await engine.deployedStacks(AbortSignal.timeout(10_000))).toEqual([]);
    expect(await engine.remove(project, AbortSignal.timeout(60_000))).toBe(false);
  }, 90_000);
});
