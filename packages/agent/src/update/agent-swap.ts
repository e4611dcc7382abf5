import type { DockerEndpoint } from "../docker/docker-client.ts";
import { dockerCall, dockerRequest, dockerRefused } from "../docker/engine-api.ts";
import type { Logger } from "../logger.ts";
import { readUpdateRecord, writeUpdateRecord, type UpdateRecord } from "./update-record.ts";

/** Options of `swapAgentContainer` (the `pier agent-swap` helper). */
export interface AgentSwapOptions {
  readonly docker: DockerEndpoint;
  /** Id or name of the running agent's container. */
  readonly container: string;
  /** The new agent image. */
  readonly image: string;
  /** The update's id (the record names it). */
  readonly id: number;
  /** How long the new agent has to be welcomed by the server. */
  readonly deadlineSeconds: number;
  /** The data directory the agents share (the helper mounts the old container's volumes). */
  readonly dataDir: string;
  readonly log: Logger;
  /** How often the record is read while waiting (default 1 s). */
  readonly pollMs?: number;
  /** Seconds the agent has to stop on SIGTERM (default 10). */
  readonly stopSeconds?: number;
}

/** The result: the new container running (`updated`), or the old one back (`rolled_back`). */
export interface AgentSwapResult {
  readonly state: "updated" | "rolled_back";
  readonly error?: string;
}

interface ContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  Config: Record<string, unknown> & { Image?: string; Env?: string[] | null; Labels?: Record<string, string> | null; Hostname?: string };
  HostConfig: Record<string, unknown> & { Binds?: string[] | null; Mounts?: { Target: string }[] | null };
  Mounts?: { Type: string; Name?: string; Destination: string }[] | null;
  NetworkSettings?: { Networks?: Record<string, { Aliases?: string[] | null; IPAMConfig?: unknown } | null> | null };
}

interface ImageInspect {
  Config?: { Env?: string[] | null; Labels?: Record<string, string> | null; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string; User?: string; Volumes?: unknown } | null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The create body of the new agent's container: the old container's own configuration (env,
 * labels, command, user given when it was created; host config: binds, volumes, restart policy,
 * network mode) with `image`. What the OLD image contributed (its env, labels, entrypoint) is
 * left out, so the new image's own come in. An anonymous volume (the image's `VOLUME /data`
 * without `-v`) is mounted by its name: the device's identity goes along.
 */
export function newContainerBody(old: ContainerInspect, oldImage: ImageInspect, image: string): Record<string, unknown> {
  const imageConfig = oldImage.Config ?? {};
  const config: Record<string, unknown> = { ...old.Config, Image: image };
  const imageEnv = new Set(imageConfig.Env ?? []);
  config.Env = (old.Config.Env ?? []).filter((entry) => !imageEnv.has(entry));
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(old.Config.Labels ?? {})) if (imageConfig.Labels?.[key] !== value) labels[key] = value;
  config.Labels = labels;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  if (same(config.Entrypoint, imageConfig.Entrypoint)) delete config.Entrypoint;
  if (same(config.Cmd, imageConfig.Cmd)) delete config.Cmd;
  if (same(config.WorkingDir, imageConfig.WorkingDir)) delete config.WorkingDir;
  if (same(config.User, imageConfig.User)) delete config.User;
  delete config.Volumes;
  // Docker's default host name is the container's short id: the new container gets its own.
  if (typeof config.Hostname === "string" && old.Id.startsWith(config.Hostname)) delete config.Hostname;
  const hostConfig: Record<string, unknown> = { ...old.HostConfig };
  const covered = new Set([...(old.HostConfig.Binds ?? []).map((bind) => bind.split(":")[1]), ...(old.HostConfig.Mounts ?? []).map((mount) => mount.Target)]);
  const anonymous = (old.Mounts ?? []).filter((mount) => mount.Type === "volume" && mount.Name && !covered.has(mount.Destination));
  if (anonymous.length > 0) hostConfig.Binds = [...(old.HostConfig.Binds ?? []), ...anonymous.map((mount) => `${mount.Name}:${mount.Destination}`)];
  const endpoints: Record<string, unknown> = {};
  for (const [network, settings] of Object.entries(old.NetworkSettings?.Networks ?? {})) {
    const aliases = (settings?.Aliases ?? []).filter((alias) => !old.Id.startsWith(alias));
    endpoints[network] = { ...(aliases.length > 0 ? { Aliases: aliases } : {}), ...(settings?.IPAMConfig ? { IPAMConfig: settings.IPAMConfig } : {}) };
  }
  return { ...config, HostConfig: hostConfig, NetworkingConfig: { EndpointsConfig: endpoints } };
}

/**
 * Swaps the agent's container for one of `image` (docs/fleet.md "Agent updates"), from a helper
 * container that outlives the old agent: stops and renames the old container (kept as
 * `<name>-pier-previous`), creates the new one under the old name with the same configuration,
 * starts it and waits up to `deadlineSeconds` for the new agent to write `updated` in the update
 * record (it does after the server's first welcome). Then the old container is removed (its
 * volumes stay). Otherwise — the new container would not start, or did not check in — the new
 * container is removed, the old one gets its name back, the record says `rolled_back` with the
 * reason, and the old agent starts again (and reports it). `/data` is never written but for the record.
 */
export async function swapAgentContainer(options: AgentSwapOptions): Promise<AgentSwapResult> {
  const { docker, log } = options;
  const old = (await dockerCall(docker, "GET", `/containers/${encodeURIComponent(options.container)}/json`)) as ContainerInspect;
  const oldImage = (await dockerCall(docker, "GET", `/images/${encodeURIComponent(old.Image)}/json`)) as ImageInspect;
  const name = old.Name.replace(/^\//, "");
  const previousName = `${name}-pier-previous`;
  const body = newContainerBody(old, oldImage, options.image);
  log.log("info", `agent update ${options.id}: replacing container ${name} (${old.Id.slice(0, 12)}, image ${old.Config.Image ?? old.Image}) with image ${options.image}; the new agent has ${options.deadlineSeconds} s to check in`);
  const stopped = await dockerRequest(docker, "POST", `/containers/${old.Id}/stop?t=${options.stopSeconds ?? 10}`, { timeoutMs: ((options.stopSeconds ?? 10) + 20) * 1000 });
  if (!stopped.ok && stopped.status !== 304) throw dockerRefused(docker, "POST", "/containers/stop", stopped);
  await dockerCall(docker, "POST", `/containers/${old.Id}/rename?name=${encodeURIComponent(previousName)}`);
  let created: string | undefined;
  let failure: string;
  try {
    const answer = (await dockerCall(docker, "POST", `/containers/create?name=${encodeURIComponent(name)}`, { body })) as { Id: string };
    created = answer.Id;
    await dockerCall(docker, "POST", `/containers/${created}/start`);
    failure = await waitForCheckIn(options, created);
    if (failure === "") {
      await dockerRequest(docker, "DELETE", `/containers/${old.Id}?force=true`);
      log.log("info", `agent update ${options.id}: the new agent checked in; the previous container was removed`);
      return { state: "updated" };
    }
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  // Rollback: the old container, its name and its agent come back.
  log.log("warn", `agent update ${options.id}: ${failure}; rolling back to the previous container`);
  if (created) await dockerRequest(docker, "DELETE", `/containers/${created}?force=true`, { timeoutMs: 60_000 });
  await dockerCall(docker, "POST", `/containers/${old.Id}/rename?name=${encodeURIComponent(name)}`);
  const record: UpdateRecord = { id: options.id, image: options.image, state: "rolled_back", error: failure.slice(0, 1000) };
  writeUpdateRecord(options.dataDir, record);
  await dockerCall(docker, "POST", `/containers/${old.Id}/start`);
  return { state: "rolled_back", error: record.error ?? failure };
}

/** "" once the new agent wrote `updated`; else why it is not kept. */
async function waitForCheckIn(options: AgentSwapOptions, container: string): Promise<string> {
  const deadline = Date.now() + options.deadlineSeconds * 1000;
  let lastState = "";
  while (Date.now() < deadline) {
    const record = readUpdateRecord(options.dataDir);
    if (record?.id === options.id && record.state === "updated") return "";
    const inspect = await dockerRequest(options.docker, "GET", `/containers/${container}/json`);
    if (inspect.ok) {
      const state = (inspect.json() as { State?: { Status?: string; ExitCode?: number } }).State;
      lastState = state?.Status === "exited" ? `it exited with code ${state.ExitCode ?? "?"}` : (state?.Status ?? "");
    }
    await sleep(options.pollMs ?? 1000);
  }
  return `the new agent (image ${options.image}) did not check in within ${options.deadlineSeconds} s${lastState ? ` (${lastState})` : ""}`;
}
