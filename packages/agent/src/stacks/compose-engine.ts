import { setTimeout as delay } from "node:timers/promises";
import type { RegistryCredential } from "@pier/protocol";
import type { DockerEndpoint } from "../docker/docker-client.ts";
import { dockerCall, dockerRequest, dockerRefused, imageRegistry, pullImage, type RegistryAuth } from "../docker/engine-api.ts";
import type { Logger } from "../logger.ts";
import type { ComposeProject, ComposeService } from "./compose-model.ts";
import { describeStep, planDeployment, planPulls, type CurrentContainer, type CurrentProject, type StackStep } from "./stack-plan.ts";
import type { DeployOutcome, DeployRequest, DeployedStack, StackEngine } from "./stack-engine.ts";

/**
 * Deploys compose projects on a standalone Docker engine through the Engine API, labelled the way
 * Docker Compose labels them (`pkg/api/labels.go`), so `docker compose ls` and `docker compose ps`
 * on the device show Pier's stacks as compose projects.
 */

/** Compose's labels, and Pier's own. */
export const composeLabels = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  containerNumber: "com.docker.compose.container-number",
  oneoff: "com.docker.compose.oneoff",
  configHash: "com.docker.compose.config-hash",
  version: "com.docker.compose.version",
  workingDir: "com.docker.compose.project.working_dir",
  configFiles: "com.docker.compose.project.config_files",
  dependsOn: "com.docker.compose.depends_on",
  image: "com.docker.compose.image",
  network: "com.docker.compose.network",
  volume: "com.docker.compose.volume",
  stackId: "io.pier.edge-stack.id",
  stackVersion: "io.pier.edge-stack.version",
} as const;

/** The value of `com.docker.compose.version` on what Pier creates: the Compose file format it follows. */
export const composeVersionLabel = "2.0.0";

// A busy device (a Raspberry Pi under load, or this machine's tests) takes seconds to create or
// start a container; 10 s, the read calls' timeout, proved too short. Stopping waits up to
// Docker's 10 s grace period on top.
const writeTimeoutMs = 60_000;
const stopTimeoutMs = 70_000;

type Json = Record<string, unknown>;
const record = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const text = (value: unknown): string => (typeof value === "string" ? value : "");

function labelFilter(...labels: string[]): string {
  return encodeURIComponent(JSON.stringify({ label: labels }));
}

/** The container name Compose v2 gives: `<project>-<service>-<n>`. */
export function containerName(project: string, service: string, number: number): string {
  return `${project}-${service}-${number}`;
}

/** The credentials for `image`'s registry among the stack's, if any. */
export function authFor(image: string, registries: readonly RegistryCredential[]): RegistryAuth | undefined {
  const host = imageRegistry(image);
  const hub = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"]);
  const match = registries.find((registry) => registry.serverAddress === host || (hub.has(host) && hub.has(registry.serverAddress)));
  return match ? { username: match.username, password: match.password, serveraddress: match.serverAddress } : undefined;
}

/** The Engine API body of `POST /containers/create` for one service of `project`. */
export function containerSpec(project: ComposeProject, service: ComposeService, number: number, configHash: string, request: Pick<DeployRequest, "stackId" | "version" | "workingDir" | "configFile">, imageId: string): Json {
  const networkName = (key: string) => project.networks.find((network) => network.key === key)?.name ?? `${project.name}_${key}`;
  const volumeName = (key: string) => project.volumes.find((volume) => volume.key === key)?.name ?? `${project.name}_${key}`;
  const exposed: Json = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of service.ports) {
    const key = `${port.target}/${port.protocol}`;
    exposed[key] = {};
    if (port.published !== undefined || port.hostIp !== undefined) (bindings[key] ??= []).push({ HostIp: port.hostIp ?? "", HostPort: port.published ?? "" });
  }
  const healthcheck = service.healthcheck === "disabled" ? { Test: ["NONE"] } : service.healthcheck ? { Test: service.healthcheck.test, Interval: service.healthcheck.interval, Timeout: service.healthcheck.timeout, Retries: service.healthcheck.retries, StartPeriod: service.healthcheck.startPeriod } : undefined;
  const firstNetwork = service.networks[0] ?? "default";
  return {
    Image: service.image,
    ...(service.command ? { Cmd: service.command } : {}),
    ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
    Env: Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
    ...(service.workingDir ? { WorkingDir: service.workingDir } : {}),
    ...(service.user ? { User: service.user } : {}),
    ...(service.hostname ? { Hostname: service.hostname } : {}),
    ExposedPorts: exposed,
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    Labels: {
      ...service.labels,
      [composeLabels.project]: project.name,
      [composeLabels.service]: service.name,
      [composeLabels.containerNumber]: String(number),
      [composeLabels.oneoff]: "False",
      [composeLabels.configHash]: configHash,
      [composeLabels.version]: composeVersionLabel,
      [composeLabels.workingDir]: request.workingDir,
      [composeLabels.configFiles]: request.configFile,
      [composeLabels.dependsOn]: service.dependsOn.map((dependency) => `${dependency}:service_started:false`).join(","),
      [composeLabels.image]: imageId,
      [composeLabels.stackId]: String(request.stackId),
      [composeLabels.stackVersion]: String(request.version),
    },
    HostConfig: {
      Binds: service.volumes.filter((mount) => mount.type === "bind").map((mount) => `${mount.source}:${mount.target}${mount.readOnly ? ":ro" : ""}`),
      Mounts: service.volumes.filter((mount) => mount.type === "volume").map((mount) => ({ Type: "volume", Source: volumeName(mount.source), Target: mount.target, ReadOnly: mount.readOnly })),
      PortBindings: bindings,
      RestartPolicy: { Name: service.restart === "no" ? "" : service.restart },
      Privileged: service.privileged,
      CapAdd: service.capAdd,
      CapDrop: service.capDrop,
      Devices: service.devices.map((device) => {
        const [host = "", inContainer = host, permissions = "rwm"] = device.split(":");
        return { PathOnHost: host, PathInContainer: inContainer, CgroupPermissions: permissions };
      }),
      ...(service.logging ? { LogConfig: { Type: service.logging.driver, Config: service.logging.options } } : {}),
      NetworkMode: networkName(firstNetwork),
    },
    NetworkingConfig: { EndpointsConfig: { [networkName(firstNetwork)]: { Aliases: [service.name] } } },
  };
}

/** A `StackEngine` over a standalone Docker engine. */
export class ComposeEngine implements StackEngine {
  readonly #docker: DockerEndpoint;
  readonly #log: Logger;

  constructor(docker: DockerEndpoint, log: Logger) {
    this.#docker = docker;
    this.#log = log;
  }

  /** Reads what the engine holds of `project`. */
  async current(project: ComposeProject | string, signal: AbortSignal): Promise<CurrentProject> {
    const name = typeof project === "string" ? project : project.name;
    const filter = labelFilter(`${composeLabels.project}=${name}`);
    const containers = list(await dockerCall(this.#docker, "GET", `/containers/json?all=1&filters=${filter}`, { signal })).map((item): CurrentContainer => {
      const labels = record(record(item).Labels);
      const state = text(record(item).State);
      const status = text(record(item).Status);
      return {
        id: text(record(item).Id),
        name: text(list(record(item).Names)[0]).replace(/^\//, ""),
        service: text(labels[composeLabels.service]),
        number: Number(labels[composeLabels.containerNumber] ?? 1) || 1,
        configHash: text(labels[composeLabels.configHash]),
        state,
        exitCode: Number(/^Exited \((-?\d+)\)/.exec(status)?.[1] ?? 0),
      };
    });
    const networks = list(await dockerCall(this.#docker, "GET", `/networks?filters=${filter}`, { signal })).map((item) => text(record(item).Name));
    const volumes = list(record(await dockerCall(this.#docker, "GET", `/volumes?filters=${filter}`, { signal })).Volumes).map((item) => text(record(item).Name));
    return { containers, networks, volumes };
  }

  async #imageIds(project: ComposeProject, signal: AbortSignal): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const image of new Set(project.services.map((service) => service.image))) {
      const answer = await dockerRequest(this.#docker, "GET", `/images/${encodeURIComponent(image)}/json`, { signal });
      if (answer.ok) ids.set(image, text(record(answer.json()).Id));
      else if (answer.status !== 404) throw dockerRefused(this.#docker, "GET", `/images/${image}/json`, answer);
    }
    return ids;
  }

  async deploy(request: DeployRequest): Promise<DeployOutcome> {
    const { project, signal } = request;
    const applied: string[] = [];
    const pulls = planPulls(project, new Set((await this.#imageIds(project, signal)).keys()));
    for (const step of pulls) {
      if (step.action !== "pull") continue;
      this.#log.log("info", `stack ${project.name}: ${describeStep(step)}`);
      const auth = authFor(step.image, request.registries);
      await pullImage(this.#docker, step.image, { signal, ...(auth ? { auth } : {}) });
      applied.push(describeStep(step));
    }
    const imageIds = await this.#imageIds(project, signal);
    request.onImagesPulled();
    const steps = planDeployment(project, await this.current(project, signal), imageIds);
    const touched: string[] = [];
    for (const step of steps) {
      this.#log.log("info", `stack ${project.name}: ${describeStep(step)}`);
      await this.#apply(step, request, imageIds);
      applied.push(describeStep(step));
      if (step.action === "createContainer") touched.push(step.service.name);
      if (step.action === "startContainer") touched.push(step.container.service);
    }
    return { steps: applied, touched };
  }

  async #apply(step: StackStep, request: DeployRequest, imageIds: ReadonlyMap<string, string>): Promise<void> {
    const { project, signal } = request;
    const docker = this.#docker;
    switch (step.action) {
      case "pull":
        return;
      case "createNetwork": {
        const answer = await dockerRequest(docker, "POST", "/networks/create", { signal, timeoutMs: writeTimeoutMs, body: { Name: step.network.name, Driver: step.network.driver ?? "bridge", Options: step.network.driverOpts, Internal: step.network.internal ?? false, Attachable: step.network.attachable ?? false, ...(step.network.ipam ? { IPAM: { Driver: step.network.ipam.driver ?? "default", Config: step.network.ipam.config } } : {}), CheckDuplicate: true, Labels: { ...step.network.labels, [composeLabels.network]: step.network.key, [composeLabels.project]: project.name, [composeLabels.version]: composeVersionLabel } } });
        if (!answer.ok && answer.status !== 409) throw dockerRefused(docker, "POST", "/networks/create", answer);
        return;
      }
      case "createVolume":
        await dockerCall(docker, "POST", "/volumes/create", { signal, timeoutMs: writeTimeoutMs, body: { Name: step.volume.name, Driver: step.volume.driver ?? "local", DriverOpts: step.volume.driverOpts, Labels: { ...step.volume.labels, [composeLabels.volume]: step.volume.key, [composeLabels.project]: project.name, [composeLabels.version]: composeVersionLabel } } });
        return;
      case "removeContainer":
        await this.#removeContainer(step.container.id, signal);
        return;
      case "createContainer": {
        const name = containerName(project.name, step.service.name, step.number);
        const body = containerSpec(project, step.service, step.number, step.configHash, request, imageIds.get(step.service.image) ?? "");
        const created = record(await dockerCall(docker, "POST", `/containers/create?name=${encodeURIComponent(name)}`, { signal, body, timeoutMs: writeTimeoutMs }));
        const id = text(created.Id);
        // API 1.41 takes one network at creation; the others are connected before the start.
        for (const key of step.service.networks.slice(1)) {
          const network = project.networks.find((candidate) => candidate.key === key)?.name ?? `${project.name}_${key}`;
          await dockerCall(docker, "POST", `/networks/${encodeURIComponent(network)}/connect`, { signal, timeoutMs: writeTimeoutMs, body: { Container: id, EndpointConfig: { Aliases: [step.service.name] } } });
        }
        await this.#start(id, signal);
        return;
      }
      case "startContainer":
        await this.#start(step.container.id, signal);
        return;
      case "removeNetwork":
        await this.#removeNetwork(step.name, signal);
        return;
    }
  }

  async #removeNetwork(name: string, signal: AbortSignal): Promise<void> {
    const answer = await dockerRequest(this.#docker, "DELETE", `/networks/${encodeURIComponent(name)}`, { signal, timeoutMs: writeTimeoutMs });
    if (!answer.ok && answer.status !== 404) throw dockerRefused(this.#docker, "DELETE", `/networks/${name}`, answer);
  }

  async #start(id: string, signal: AbortSignal): Promise<void> {
    const answer = await dockerRequest(this.#docker, "POST", `/containers/${id}/start`, { signal, timeoutMs: writeTimeoutMs });
    if (!answer.ok && answer.status !== 304) throw dockerRefused(this.#docker, "POST", "/containers/start", answer);
  }

  async #removeContainer(id: string, signal: AbortSignal): Promise<void> {
    const stopped = await dockerRequest(this.#docker, "POST", `/containers/${id}/stop?t=10`, { signal, timeoutMs: stopTimeoutMs });
    if (!stopped.ok && stopped.status !== 304 && stopped.status !== 404) throw dockerRefused(this.#docker, "POST", "/containers/stop", stopped);
    const removed = await dockerRequest(this.#docker, "DELETE", `/containers/${id}?force=true`, { signal, timeoutMs: stopTimeoutMs });
    // 409 "removal … is already in progress": another pass (or Docker itself) is removing it; wait for that.
    if (removed.status === 409 && /already in progress/.test(removed.text())) return this.#gone(id, signal);
    if (!removed.ok && removed.status !== 404) throw dockerRefused(this.#docker, "DELETE", "/containers", removed);
  }

  /** Resolves once container `id` no longer exists (at most `stopTimeoutMs`). */
  async #gone(id: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + stopTimeoutMs;
    for (;;) {
      const inspected = await dockerRequest(this.#docker, "GET", `/containers/${id}/json`, { signal, timeoutMs: writeTimeoutMs });
      if (inspected.status === 404) return;
      if (Date.now() > deadline) throw dockerRefused(this.#docker, "DELETE", "/containers", inspected);
      await delay(200, undefined, { signal });
    }
  }

  async verify(request: DeployRequest, touched: readonly string[], settleMs: number): Promise<string | undefined> {
    if (touched.length === 0) return undefined;
    await delay(settleMs, undefined, { signal: request.signal });
    const current = await this.current(request.project, request.signal);
    for (const serviceName of touched) {
      const container = current.containers.find((candidate) => candidate.service === serviceName);
      if (!container) return `service ${serviceName}: its container is gone`;
      const inspected = record(await dockerCall(this.#docker, "GET", `/containers/${container.id}/json`, { signal: request.signal }));
      const state = record(inspected.State);
      const restarts = Number(inspected.RestartCount ?? 0);
      const status = text(state.Status);
      const service = request.project.services.find((candidate) => candidate.name === serviceName);
      const exitCode = Number(state.ExitCode ?? 0);
      const why = text(state.Error);
      if (status === "exited" && exitCode === 0 && service?.restart === "no") continue;
      if (status !== "running" || restarts > 0) {
        const what = status === "running" || status === "restarting" ? `restarted ${restarts} time(s), last exit code ${exitCode}` : `is ${status} (exit code ${exitCode})`;
        return `service ${serviceName} ${what}${why ? `: ${why}` : ""}`;
      }
      if (text(record(state.Health).Status) === "unhealthy") return `service ${serviceName} is unhealthy`;
    }
    return undefined;
  }

  async remove(project: string, signal: AbortSignal): Promise<boolean> {
    const current = await this.current(project, signal);
    for (const container of current.containers) {
      this.#log.log("info", `stack ${project}: remove ${container.name}`);
      await this.#removeContainer(container.id, signal);
    }
    for (const name of current.networks) await this.#removeNetwork(name, signal);
    return current.containers.length > 0 || current.networks.length > 0;
  }

  async deployedStacks(signal: AbortSignal): Promise<DeployedStack[]> {
    const containers = list(await dockerCall(this.#docker, "GET", `/containers/json?all=1&filters=${labelFilter(composeLabels.stackId)}`, { signal }));
    const found = new Map<string, DeployedStack>();
    for (const item of containers) {
      const labels = record(record(item).Labels);
      const stackId = Number(labels[composeLabels.stackId]);
      const project = text(labels[composeLabels.project]);
      if (Number.isInteger(stackId) && stackId > 0 && project) found.set(`${stackId}/${project}`, { stackId, project });
    }
    return [...found.values()];
  }
}
