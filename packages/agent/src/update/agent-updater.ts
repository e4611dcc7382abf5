import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { AgentUpdateReport, DesiredAgentUpdate } from "@pier/protocol";
import { agentVersion } from "../device-info.ts";
import type { DockerEndpoint } from "../docker/docker-client.ts";
import { dockerCall, dockerRequest, pullImage } from "../docker/engine-api.ts";
import type { Logger } from "../logger.ts";
import { readUpdateRecord, writeUpdateRecord, type UpdateRecord } from "./update-record.ts";

/** Where agent update results go (the outbox). */
export interface AgentUpdateReporter {
  agentUpdate(report: AgentUpdateReport): void;
}

/** Options of `AgentUpdater`. */
export interface AgentUpdaterOptions {
  readonly docker: DockerEndpoint;
  readonly dataDir: string;
  readonly log: Logger;
  readonly reporter: AgentUpdateReporter;
  /** The id of the container this agent runs in, `undefined` when it runs in none (default: `ownContainer`). */
  readonly ownContainer?: () => Promise<string | undefined>;
  /** The image this agent's container was created with (default: `ownContainer` inspected); `undefined` when unknown. */
  readonly runningImage?: () => Promise<string | undefined>;
}

const containerIdPattern = /\/containers\/([0-9a-f]{64})\//;

/**
 * The id of the container this process runs in: from the bind mounts Docker gives every
 * container (`/etc/hostname`, `/etc/hosts` come from `…/containers/<id>/…`, in
 * `/proc/self/mountinfo` under cgroup v1 and v2 alike), else the host name (Docker's default
 * is the short id), each checked by inspecting it on `docker`. `undefined`: not in a container
 * of this engine.
 */
export async function ownContainer(docker: DockerEndpoint): Promise<string | undefined> {
  const candidates: string[] = [];
  try {
    const match = containerIdPattern.exec(readFileSync("/proc/self/mountinfo", "utf8"));
    if (match?.[1]) candidates.push(match[1]);
  } catch {
    // no /proc: not Linux, so not a Docker container either
  }
  candidates.push(hostname());
  for (const candidate of candidates) {
    const answer = await dockerRequest(docker, "GET", `/containers/${encodeURIComponent(candidate)}/json`);
    if (answer.ok) return (answer.json() as { Id: string }).Id;
  }
  return undefined;
}

/**
 * Agent updates on the device (docs/fleet.md "Agent updates"). When the desired state names an
 * update this agent has not acted on, it starts the swap helper: a short-lived container of the
 * NEW image running `pier agent-swap`, with the old container's volumes (`/data` and the Docker
 * socket), which replaces this container and rolls back when the new agent does not check in.
 * The new agent writes `updated` in the update record at its first welcome and reports it; an
 * old agent started again by a rollback reports `rolled_back`. An agent that runs in no
 * container reports `failed`.
 */
export class AgentUpdater {
  readonly #options: AgentUpdaterOptions;
  /** This process started a swap: it is the OLD agent and never checks in for it. */
  #swapping = false;
  /** The check-in is being confirmed (one at a time). */
  #checking = false;

  constructor(options: AgentUpdaterOptions) {
    this.#options = options;
  }

  /** At start: a result written while this agent was not running (a rollback, a failure) is reported. */
  start(): void {
    const record = readUpdateRecord(this.#options.dataDir);
    if (record && record.state !== "swapping" && !record.reported) this.#report(record);
  }

  /** The server welcomed this agent: when a swap waits for it, this agent is the new one and keeps the place. */
  welcomed(): void {
    if (this.#swapping || this.#checking) return;
    const record = readUpdateRecord(this.#options.dataDir);
    if (record?.state !== "swapping") return;
    this.#checking = true;
    void this.#runningImage()
      .catch(() => undefined)
      .then((image) => {
        // Started again on the old image with the swap still recorded: the helper died before replacing it.
        if (image !== undefined && image !== record.image) {
          this.#options.log.log("error", `agent update ${record.id}: this agent still runs image ${image}; the swap helper stopped before replacing it`);
          this.#report({ ...record, state: "failed", error: `the agent still runs image ${image}: the swap helper stopped before replacing it` });
          return;
        }
        this.#options.log.log("info", `agent update ${record.id}: this agent (${agentVersion}, image ${record.image}) checked in; the update is done`);
        this.#report({ ...record, state: "updated" });
      })
      .finally(() => (this.#checking = false));
  }

  async #runningImage(): Promise<string | undefined> {
    if (this.#options.runningImage) return this.#options.runningImage();
    const self = await (this.#options.ownContainer ?? (() => ownContainer(this.#options.docker)))();
    if (!self) return undefined;
    return ((await dockerCall(this.#options.docker, "GET", `/containers/${self}/json`)) as { Config?: { Image?: string } }).Config?.Image;
  }

  /** The desired state's update (absent: none). Acts once per update id. */
  apply(update: DesiredAgentUpdate | undefined): void {
    if (!update || this.#swapping) return;
    const record = readUpdateRecord(this.#options.dataDir);
    if (record?.id === update.id) return;
    this.#swapping = true;
    writeUpdateRecord(this.#options.dataDir, { id: update.id, image: update.image, state: "swapping" });
    this.#startHelper(update).catch((error: unknown) => {
      this.#swapping = false;
      const reason = error instanceof Error ? error.message : String(error);
      this.#options.log.log("error", `agent update ${update.id} to ${update.image} failed: ${reason}`);
      this.#report({ id: update.id, image: update.image, state: "failed", error: reason.slice(0, 1000) });
    });
  }

  async #startHelper(update: DesiredAgentUpdate): Promise<void> {
    const { docker, log, dataDir } = this.#options;
    const self = await (this.#options.ownContainer ?? (() => ownContainer(docker)))();
    if (!self) throw new Error("this agent does not run in a container of its Docker engine, so it cannot replace itself; update it the way it was installed");
    const own = (await dockerCall(docker, "GET", `/containers/${self}/json`)) as { Name: string; Config: { User?: string; Env?: string[] | null; Labels?: Record<string, string> | null }; HostConfig: { NetworkMode?: string; GroupAdd?: string[] | null } };
    // An orchestrator would start its own task or pod again beside the swapped container; said
    // before the image is pulled, which would be for nothing.
    const labels = own.Config.Labels ?? {};
    if (labels["com.docker.swarm.service.name"] !== undefined) throw new Error(`this agent runs as a task of the Swarm service ${labels["com.docker.swarm.service.name"]}; update the service instead (docker service update --image ${update.image} …)`);
    if (labels["io.kubernetes.pod.name"] !== undefined) throw new Error("this agent runs in a Kubernetes pod; update its Deployment or DaemonSet instead");
    const imagePath = `/images/${encodeURIComponent(update.image)}/json`;
    const existing = await dockerRequest(docker, "GET", imagePath);
    if (!existing.ok) {
      log.log("info", `agent update ${update.id}: pulling ${update.image}`);
      await pullImage(docker, update.image);
    }
    // Inspected once when the engine had it, again only after a pull.
    const image = (existing.ok ? existing.json() : await dockerCall(docker, "GET", imagePath)) as { Config?: { Entrypoint?: string[] | null } | null };
    const entrypoint = image.Config?.Entrypoint ?? [];
    if (entrypoint.at(-1) !== "agent") throw new Error(`the image ${update.image} is not a Pier agent image (its entrypoint does not end in "agent")`);
    const name = `${own.Name.replace(/^\//, "")}-pier-update-${update.id}`;
    await dockerRequest(docker, "DELETE", `/containers/${encodeURIComponent(name)}?force=true`);
    const dockerHost = (own.Config.Env ?? []).filter((entry) => entry.startsWith("DOCKER_HOST="));
    const body = {
      Image: update.image,
      Entrypoint: [...entrypoint.slice(0, -1), "agent-swap"],
      Cmd: ["--container", self, "--image", update.image, "--id", String(update.id), "--deadline", String(update.deadlineSeconds), "--data", dataDir],
      Env: dockerHost,
      ...(own.Config.User ? { User: own.Config.User } : {}),
      Labels: { "io.pier.agent-update": String(update.id) },
      HostConfig: { VolumesFrom: [self], AutoRemove: true, ...(own.HostConfig.NetworkMode ? { NetworkMode: own.HostConfig.NetworkMode } : {}), ...(own.HostConfig.GroupAdd ? { GroupAdd: own.HostConfig.GroupAdd } : {}) },
    };
    const created = (await dockerCall(docker, "POST", `/containers/create?name=${encodeURIComponent(name)}`, { body })) as { Id: string };
    await dockerCall(docker, "POST", `/containers/${created.Id}/start`);
    log.log("info", `agent update ${update.id}: the swap helper ${name} started; this agent stops now and image ${update.image} takes its place (back to this one if the new agent does not check in within ${update.deadlineSeconds} s)`);
  }

  #report(record: UpdateRecord): void {
    if (record.state === "swapping") return;
    this.#options.reporter.agentUpdate({ id: record.id, status: record.state, agentVersion, ...(record.error ? { error: record.error } : {}) });
    writeUpdateRecord(this.#options.dataDir, { ...record, reported: true });
  }
}
