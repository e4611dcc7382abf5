import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { dockerGet, type DockerEndpoint } from "../docker/docker-client.ts";
import { dockerCall, dockerRefused, dockerRequest, registryAuthHeader } from "../docker/engine-api.ts";
import type { Logger } from "../logger.ts";
import { ComposeEngine, authFor, composeLabels } from "./compose-engine.ts";
import type { ComposeProject, ComposeService } from "./compose-model.ts";
import type { DeployOutcome, DeployRequest, DeployedStack, StackEngine } from "./stack-engine.ts";

/**
 * Deploys compose projects as Swarm services through the Engine API, the way `docker stack
 * deploy` does (docker/cli `cli/command/stack/swarm`): overlay networks `<stack>_<network>`,
 * services `<stack>_<service>` labelled `com.docker.stack.namespace=<stack>` and
 * `com.docker.stack.image`, `deploy:` mapped onto the service spec, registry credentials sent
 * with each create and update (`--with-registry-auth`), a service updated in place when its
 * spec changed, services and networks no longer in the file removed. `docker stack ls/ps` on a
 * manager shows Pier's stacks.
 */

/** `docker stack`'s labels, and Pier's own on services. */
export const stackLabels = {
  namespace: "com.docker.stack.namespace",
  image: "com.docker.stack.image",
  /** SHA-256 of the spec Pier sent: a service whose spec is unchanged is left alone. */
  specHash: "io.pier.edge-stack.spec-hash",
} as const;

// Swarm answers a create or update once the manager stored it; tasks follow asynchronously.
const writeTimeoutMs = 60_000;
/** How long `verify` waits at most for tasks to reach their count after the settle time. */
export const swarmConvergeMs = 60_000;

type Json = Record<string, unknown>;
const record = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const text = (value: unknown): string => (typeof value === "string" ? value : "");

function labelFilter(...labels: string[]): string {
  return encodeURIComponent(JSON.stringify({ label: labels }));
}

/** `<stack>_<service>`, the service name `docker stack deploy` gives. */
export function swarmServiceName(project: string, service: string): string {
  return `${project}_${service}`;
}

function networkName(project: ComposeProject, key: string): string {
  return project.networks.find((network) => network.key === key)?.name ?? `${project.name}_${key}`;
}

/** The Engine API `ServiceSpec` of one compose service (docs: `POST /services/create`). */
export function serviceSpec(project: ComposeProject, service: ComposeService, request: Pick<DeployRequest, "stackId" | "version">): Json {
  const namespace = { [stackLabels.namespace]: project.name };
  const deploy = service.deploy;
  const healthcheck = service.healthcheck === "disabled" ? { Test: ["NONE"] } : service.healthcheck ? { Test: service.healthcheck.test, Interval: service.healthcheck.interval, Timeout: service.healthcheck.timeout, Retries: service.healthcheck.retries, StartPeriod: service.healthcheck.startPeriod } : undefined;
  const limits = deploy?.resources?.limits;
  const reservations = deploy?.resources?.reservations;
  const restart = deploy?.restartPolicy;
  const update = deploy?.updateConfig;
  const placement = deploy?.placement;
  const spec: Json = {
    Name: swarmServiceName(project.name, service.name),
    Labels: { ...namespace, [stackLabels.image]: service.image, [composeLabels.stackId]: String(request.stackId), [composeLabels.stackVersion]: String(request.version) },
    TaskTemplate: {
      ContainerSpec: {
        Image: service.image,
        Labels: { ...service.labels, ...namespace },
        // Compose's entrypoint is the container's command, its command the arguments (as docker stack does).
        ...(service.entrypoint ? { Command: service.entrypoint } : {}),
        ...(service.command ? { Args: service.command } : {}),
        Env: Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
        ...(service.workingDir ? { Dir: service.workingDir } : {}),
        ...(service.user ? { User: service.user } : {}),
        ...(service.hostname ? { Hostname: service.hostname } : {}),
        Mounts: service.volumes.map((mount) =>
          mount.type === "bind"
            ? { Type: "bind", Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly }
            : { Type: "volume", Source: project.volumes.find((volume) => volume.key === mount.source)?.name ?? `${project.name}_${mount.source}`, Target: mount.target, ReadOnly: mount.readOnly, VolumeOptions: { Labels: namespace } },
        ),
        ...(healthcheck ? { Healthcheck: healthcheck } : {}),
        ...(service.capAdd.length > 0 ? { CapabilityAdd: service.capAdd } : {}),
        ...(service.capDrop.length > 0 ? { CapabilityDrop: service.capDrop } : {}),
      },
      ...(limits || reservations
        ? {
            Resources: {
              ...(limits ? { Limits: { ...(limits.nanoCpus ? { NanoCPUs: limits.nanoCpus } : {}), ...(limits.memoryBytes ? { MemoryBytes: limits.memoryBytes } : {}), ...(limits.pids ? { Pids: limits.pids } : {}) } } : {}),
              ...(reservations ? { Reservations: { ...(reservations.nanoCpus ? { NanoCPUs: reservations.nanoCpus } : {}), ...(reservations.memoryBytes ? { MemoryBytes: reservations.memoryBytes } : {}) } } : {}),
            },
          }
        : {}),
      // Compose's `restart:` means nothing to a swarm; `deploy.restart_policy` does (default: any).
      ...(restart ? { RestartPolicy: { ...(restart.condition ? { Condition: restart.condition } : {}), ...(restart.delay !== undefined ? { Delay: restart.delay } : {}), ...(restart.maxAttempts !== undefined ? { MaxAttempts: restart.maxAttempts } : {}), ...(restart.window !== undefined ? { Window: restart.window } : {}) } } : {}),
      ...(placement
        ? { Placement: { Constraints: placement.constraints, Preferences: placement.preferences.map((label) => ({ Spread: { SpreadDescriptor: label } })), ...(placement.maxReplicasPerNode ? { MaxReplicas: placement.maxReplicasPerNode } : {}) } }
        : {}),
      Networks: service.networks.map((key) => ({ Target: networkName(project, key), Aliases: [service.name] })),
      ...(service.logging ? { LogDriver: { Name: service.logging.driver, Options: service.logging.options } } : {}),
    },
    Mode: deploy?.mode === "global" ? { Global: {} } : { Replicated: { Replicas: deploy?.replicas ?? 1 } },
    ...(update
      ? {
          UpdateConfig: {
            ...(update.parallelism !== undefined ? { Parallelism: update.parallelism } : {}),
            ...(update.delay !== undefined ? { Delay: update.delay } : {}),
            ...(update.failureAction ? { FailureAction: update.failureAction } : {}),
            ...(update.monitor !== undefined ? { Monitor: update.monitor } : {}),
            ...(update.maxFailureRatio !== undefined ? { MaxFailureRatio: update.maxFailureRatio } : {}),
            ...(update.order ? { Order: update.order } : {}),
          },
        }
      : {}),
    EndpointSpec: {
      Mode: "vip",
      Ports: service.ports.filter((port) => port.published !== undefined).map((port) => ({ Protocol: port.protocol, TargetPort: port.target, PublishedPort: Number(port.published), PublishMode: "ingress" })),
    },
  };
  const hash = createHash("sha256").update(JSON.stringify(spec)).digest("hex");
  (spec.Labels as Json)[stackLabels.specHash] = hash;
  return spec;
}

/** A service of a stack as the swarm holds it. */
interface CurrentService {
  readonly id: string;
  readonly name: string;
  readonly versionIndex: number;
  readonly specHash: string;
  readonly stackId: number | undefined;
  readonly namespace: string;
}

/** A `StackEngine` over a swarm, used when the agent speaks for the cluster (`stackEngineFor`). */
export class SwarmEngine implements StackEngine {
  readonly #docker: DockerEndpoint;
  readonly #log: Logger;
  readonly #convergeMs: number;

  /** `convergeMs`: how long `verify` waits for tasks after the settle time (default `swarmConvergeMs`). */
  constructor(docker: DockerEndpoint, log: Logger, options: { readonly convergeMs?: number } = {}) {
    this.#docker = docker;
    this.#log = log;
    this.#convergeMs = options.convergeMs ?? swarmConvergeMs;
  }

  async #services(filter: string, signal: AbortSignal): Promise<CurrentService[]> {
    return list(await dockerCall(this.#docker, "GET", `/services?filters=${filter}`, { signal })).map((item) => {
      const spec = record(record(item).Spec);
      const labels = record(spec.Labels);
      const stackId = Number(labels[composeLabels.stackId]);
      return {
        id: text(record(item).ID),
        name: text(spec.Name),
        versionIndex: Number(record(record(item).Version).Index ?? 0),
        specHash: text(labels[stackLabels.specHash]),
        stackId: Number.isSafeInteger(stackId) && stackId > 0 ? stackId : undefined,
        namespace: text(labels[stackLabels.namespace]),
      };
    });
  }

  async #networks(project: string, signal: AbortSignal): Promise<string[]> {
    return list(await dockerCall(this.#docker, "GET", `/networks?filters=${labelFilter(`${stackLabels.namespace}=${project}`)}`, { signal })).map((item) => text(record(item).Name));
  }

  async deploy(request: DeployRequest): Promise<DeployOutcome> {
    const { project, signal } = request;
    const steps: string[] = [];
    const touched: string[] = [];
    const step = (words: string) => {
      this.#log.log("info", `stack ${project.name} (swarm): ${words}`);
      steps.push(words);
    };
    const existingNetworks = new Set(await this.#networks(project.name, signal));
    for (const network of project.networks) {
      if (network.external || existingNetworks.has(network.name)) continue;
      step(`create overlay network ${network.name}`);
      const answer = await dockerRequest(this.#docker, "POST", "/networks/create", {
        signal,
        timeoutMs: writeTimeoutMs,
        body: { Name: network.name, Driver: network.driver ?? "overlay", CheckDuplicate: true, Labels: { ...network.labels, [stackLabels.namespace]: project.name } },
      });
      if (!answer.ok && answer.status !== 409) throw dockerRefused(this.#docker, "POST", "/networks/create", answer);
    }
    const current = new Map((await this.#services(labelFilter(`${stackLabels.namespace}=${project.name}`), signal)).map((service) => [service.name, service]));
    for (const service of project.services) {
      const spec = serviceSpec(project, service, request);
      const name = text(spec.Name);
      const hash = text(record(spec.Labels)[stackLabels.specHash]);
      const auth = authFor(service.image, request.registries);
      const headers = auth ? { "x-registry-auth": registryAuthHeader(auth) } : undefined;
      const existing = current.get(name);
      if (!existing) {
        step(`create service ${name} (${service.image})`);
        await dockerCall(this.#docker, "POST", "/services/create", { signal, timeoutMs: writeTimeoutMs, body: spec, ...(headers ? { headers } : {}) });
        touched.push(service.name);
      } else if (existing.specHash !== hash) {
        step(`update service ${name} (${service.image})`);
        await dockerCall(this.#docker, "POST", `/services/${existing.id}/update?version=${existing.versionIndex}`, { signal, timeoutMs: writeTimeoutMs, body: spec, ...(headers ? { headers } : {}) });
        touched.push(service.name);
      }
      current.delete(name);
    }
    // Each node pulls its tasks' images itself, with the credentials sent above.
    request.onImagesPulled();
    for (const gone of current.values()) {
      step(`remove service ${gone.name}`);
      await this.#removeService(gone.id, signal);
    }
    const wanted = new Set(project.networks.map((network) => network.name));
    for (const network of await this.#networks(project.name, signal)) {
      if (wanted.has(network)) continue;
      step(`remove network ${network}`);
      await this.#removeNetwork(network, signal);
    }
    return { steps, touched };
  }

  /**
   * Waits `settleMs`, then until each touched service runs its count of tasks (replicas, or one
   * per eligible node for global ones), at most `convergeMs`; answers why not, from the
   * newest failed task's error, or `undefined`.
   */
  async verify(request: DeployRequest, touched: readonly string[], settleMs: number): Promise<string | undefined> {
    if (touched.length === 0) return undefined;
    await delay(settleMs, undefined, { signal: request.signal });
    const deadline = Date.now() + this.#convergeMs;
    for (;;) {
      const reason = await this.#notConverged(request, touched);
      if (reason === undefined || Date.now() > deadline) return reason;
      await delay(1_000, undefined, { signal: request.signal });
    }
  }

  async #notConverged(request: DeployRequest, touched: readonly string[]): Promise<string | undefined> {
    const { project, signal } = request;
    for (const serviceName of touched) {
      const name = swarmServiceName(project.name, serviceName);
      const inspected = record(await dockerCall(this.#docker, "GET", `/services/${encodeURIComponent(name)}`, { signal }));
      // Only tasks of the service's current spec count: during an update (or a paused one) the old ones still run.
      const template = JSON.stringify(record(record(inspected.Spec).TaskTemplate).ContainerSpec);
      const tasks = list(await dockerCall(this.#docker, "GET", `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [name] }))}`, { signal }))
        .map(record)
        .filter((task) => JSON.stringify(record(task.Spec).ContainerSpec) === template);
      const service = project.services.find((candidate) => candidate.name === serviceName);
      const wantRunning = tasks.filter((task) => text(task.DesiredState) === "running");
      const running = wantRunning.filter((task) => text(record(task.Status).State) === "running").length;
      const expected = service?.deploy?.mode === "global" ? wantRunning.length : (service?.deploy?.replicas ?? 1);
      if (running >= expected && (service?.deploy?.mode !== "global" || running > 0)) continue;
      const failed = tasks
        .filter((task) => ["failed", "rejected"].includes(text(record(task.Status).State)))
        .sort((a, b) => text(record(b.Status).Timestamp).localeCompare(text(record(a.Status).Timestamp)))[0];
      const why = failed ? `: ${text(record(failed.Status).Err) || text(record(failed.Status).Message)}` : "";
      return `service ${name} runs ${running} of ${expected} task(s)${why}`;
    }
    return undefined;
  }

  async remove(project: string, signal: AbortSignal): Promise<boolean> {
    const services = await this.#services(labelFilter(`${stackLabels.namespace}=${project}`), signal);
    for (const service of services) {
      this.#log.log("info", `stack ${project} (swarm): remove service ${service.name}`);
      await this.#removeService(service.id, signal);
    }
    const networks = await this.#networks(project, signal);
    for (const network of networks) {
      this.#log.log("info", `stack ${project} (swarm): remove network ${network}`);
      await this.#removeNetwork(network, signal);
    }
    return services.length + networks.length > 0;
  }

  async deployedStacks(signal: AbortSignal): Promise<DeployedStack[]> {
    const seen = new Map<string, DeployedStack>();
    for (const service of await this.#services(labelFilter(composeLabels.stackId), signal)) {
      if (service.stackId !== undefined && service.namespace) seen.set(`${service.stackId}/${service.namespace}`, { stackId: service.stackId, project: service.namespace });
    }
    return [...seen.values()];
  }

  async #removeService(id: string, signal: AbortSignal): Promise<void> {
    const answer = await dockerRequest(this.#docker, "DELETE", `/services/${id}`, { signal, timeoutMs: writeTimeoutMs });
    if (!answer.ok && answer.status !== 404) throw dockerRefused(this.#docker, "DELETE", "/services", answer);
  }

  /**
   * A network is busy while the removed services' tasks shut down, and the node drops its copy
   * after the manager did: removal is retried, and awaited, for up to 30 s.
   */
  async #removeNetwork(name: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + 30_000;
    const path = `/networks/${encodeURIComponent(name)}`;
    for (;;) {
      const answer = await dockerRequest(this.#docker, "DELETE", path, { signal, timeoutMs: writeTimeoutMs });
      if (!answer.ok && answer.status !== 404 && Date.now() > deadline) throw dockerRefused(this.#docker, "DELETE", `/networks/${name}`, answer);
      if ((await dockerRequest(this.#docker, "GET", path, { signal })).status === 404) return;
      if (Date.now() > deadline) throw new Error(`network ${name} is still there 30 s after its removal`);
      await delay(500, undefined, { signal });
    }
  }
}

/**
 * The engine the stack runtime deploys with: Swarm services when this agent speaks for a swarm
 * (`AGENT_CLUSTER_ADDR` set — `cluster.ts` lets only the leader's agent speak — and the engine
 * is a manager of an active swarm), else containers on the standalone engine. Asked of the
 * engine at each deployment, so a node that joins or leaves a swarm is followed.
 *
 * @example
 * const runtime = createStackRuntime({ docker, dataDir, reporter, log, engine: stackEngineFor(docker, log, config.clusterAddress) });
 */
export function stackEngineFor(docker: DockerEndpoint, log: Logger, clusterAddress: string | undefined): StackEngine {
  const standalone = new ComposeEngine(docker, log);
  if (clusterAddress === undefined) return standalone;
  const swarm = new SwarmEngine(docker, log);
  const choose = async (signal?: AbortSignal): Promise<StackEngine> => {
    const info = record(await dockerGet(docker, "/info", signal));
    const state = record(info.Swarm);
    return state.LocalNodeState === "active" && state.ControlAvailable === true ? swarm : standalone;
  };
  return {
    deploy: async (request) => (await choose(request.signal)).deploy(request),
    verify: async (request, touched, settleMs) => (await choose(request.signal)).verify(request, touched, settleMs),
    remove: async (project, signal) => (await choose(signal)).remove(project, signal),
    deployedStacks: async (signal) => (await choose(signal)).deployedStacks(signal),
  };
}
