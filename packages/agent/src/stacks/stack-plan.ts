import { createHash } from "node:crypto";
import type { ComposeProject, ComposeResource, ComposeService } from "./compose-model.ts";

/**
 * The difference between what runs on the engine and a compose project, as a list of small named
 * steps (balena-supervisor's composition steps): no I/O here, so the order and the decisions are
 * tested without Docker. `compose-engine.ts` reads the current state and applies the steps.
 */

/** A container of the project, as read from the engine (labels `com.docker.compose.*`). */
export interface CurrentContainer {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly number: number;
  readonly configHash: string;
  /** Docker's `State.Status`: created, running, restarting, paused, exited, dead. */
  readonly state: string;
  readonly exitCode: number;
}

/** What the engine holds for a project. */
export interface CurrentProject {
  readonly containers: readonly CurrentContainer[];
  /** Engine names of the project's networks (labelled with the project). */
  readonly networks: readonly string[];
  /** Engine names of volumes that exist (the project's and external ones the file names). */
  readonly volumes: readonly string[];
}

/** One step towards the target. */
export type StackStep =
  | { readonly action: "pull"; readonly image: string }
  | { readonly action: "createNetwork"; readonly network: ComposeResource }
  | { readonly action: "createVolume"; readonly volume: ComposeResource }
  | { readonly action: "removeContainer"; readonly container: CurrentContainer; readonly reason: "gone" | "changed" | "extra" }
  | { readonly action: "createContainer"; readonly service: ComposeService; readonly number: number; readonly configHash: string }
  | { readonly action: "startContainer"; readonly container: CurrentContainer }
  | { readonly action: "removeNetwork"; readonly name: string };

/** A step in a log line's words, e.g. `recreate web (configuration changed)`. */
export function describeStep(step: StackStep): string {
  switch (step.action) {
    case "pull":
      return `pull ${step.image}`;
    case "createNetwork":
      return `create network ${step.network.name}`;
    case "createVolume":
      return `create volume ${step.volume.name}`;
    case "removeContainer":
      return `remove ${step.container.name} (${step.reason === "gone" ? "service removed" : step.reason === "changed" ? "configuration changed" : "extra container"})`;
    case "createContainer":
      return `create and start ${step.service.name}`;
    case "startContainer":
      return `start ${step.container.name}`;
    case "removeNetwork":
      return `remove network ${step.name}`;
  }
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, item]) => [key, stable(item)]),
    );
  }
  return value;
}

/**
 * The configuration hash of a service (label `com.docker.compose.config-hash`): SHA-256 of its
 * normalised configuration with keys sorted, and of the id of the image it runs, so a new image
 * behind the same tag recreates the container too. `depends_on` only orders: it is left out.
 *
 * @example
 * serviceConfigHash(project.services[0], "sha256:ab…"); // "5f3c…" (64 hex)
 */
export function serviceConfigHash(service: ComposeService, imageId: string): string {
  const config = { ...service, dependsOn: undefined };
  return createHash("sha256").update(JSON.stringify(stable({ config, imageId }))).digest("hex");
}

/** Pull steps for the images of `project` that the engine does not have (Compose's `pull_policy: missing`). */
export function planPulls(project: ComposeProject, presentImages: ReadonlySet<string>): StackStep[] {
  const images = [...new Set(project.services.map((service) => service.image))];
  return images.filter((image) => !presentImages.has(image)).map((image) => ({ action: "pull", image }));
}

/** A container that finished on its own and is not meant to be restarted (a one-shot service). */
function finishedOneShot(container: CurrentContainer, service: ComposeService): boolean {
  return container.state === "exited" && container.exitCode === 0 && service.restart === "no";
}

/**
 * The steps from `current` to `project`, in the order they must run: remove the containers of
 * services that are gone or changed (a recreate frees the name first), create missing networks and
 * volumes, create and start missing containers in `depends_on` order, start stopped ones, then
 * remove networks no service uses any more. Volumes are never removed (they hold data), as with
 * `docker compose up`. `imageIds` maps each image reference to its local id (after the pulls).
 * Empty when the engine already matches.
 *
 * @example
 * planDeployment(project, { containers: [], networks: [], volumes: [] }, ids).map(describeStep);
 * // ["create network shop_default", "create and start db", "create and start web"]
 */
export function planDeployment(project: ComposeProject, current: CurrentProject, imageIds: ReadonlyMap<string, string>): StackStep[] {
  const removals: StackStep[] = [];
  const creations: StackStep[] = [];
  const starts: StackStep[] = [];
  const wanted = new Map(project.services.map((service) => [service.name, service]));
  const hashes = new Map(project.services.map((service) => [service.name, serviceConfigHash(service, imageIds.get(service.image) ?? "")]));
  const kept = new Map<string, CurrentContainer>();
  const containers = [...current.containers].sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number);
  for (const container of containers) {
    const service = wanted.get(container.service);
    if (!service) removals.push({ action: "removeContainer", container, reason: "gone" });
    else if (kept.has(service.name)) removals.push({ action: "removeContainer", container, reason: "extra" });
    else if (container.configHash !== hashes.get(service.name)) removals.push({ action: "removeContainer", container, reason: "changed" });
    else kept.set(service.name, container);
  }
  for (const network of project.networks) {
    if (!network.external && !current.networks.includes(network.name)) creations.push({ action: "createNetwork", network });
  }
  for (const volume of project.volumes) {
    if (!volume.external && !current.volumes.includes(volume.name)) creations.push({ action: "createVolume", volume });
  }
  for (const service of project.services) {
    const container = kept.get(service.name);
    if (!container) creations.push({ action: "createContainer", service, number: 1, configHash: hashes.get(service.name) ?? "" });
    else if (container.state !== "running" && container.state !== "restarting" && !finishedOneShot(container, service)) starts.push({ action: "startContainer", container });
  }
  const wantedNetworks = new Set(project.networks.map((network) => network.name));
  const networkRemovals: StackStep[] = current.networks.filter((name) => !wantedNetworks.has(name)).map((name) => ({ action: "removeNetwork", name }));
  return [...removals, ...creations, ...starts, ...networkRemovals];
}
