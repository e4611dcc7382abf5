import type { DockerSnapshot } from "@pier/protocol";
import { maxSnapshotBytes } from "@pier/protocol/wire";
import { backoffDelay, sleep } from "../backoff.ts";
import type { AgentError } from "../errors.ts";
import { dockerGet, dockerResponse, dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";

// Docker's JSON, read defensively: a field of the wrong type becomes a neutral value rather than
// an invalid snapshot the server would refuse.
type Json = Record<string, unknown>;
const record = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const text = (value: unknown): string => (typeof value === "string" ? value : "");
const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0);

/**
 * Reads the Docker Engine's state for the server: engine and host, containers (running and
 * stopped), images, volumes and networks, in the shape of `dockerSnapshotSchema`. Rejects with
 * `AgentError("docker_unavailable")` when Docker cannot be reached.
 *
 * @example
 * const snapshot = await collectSnapshot(parseDockerHost(process.env.DOCKER_HOST));
 * snapshot.containers.filter((c) => c.state === "running");
 */
export async function collectSnapshot(docker: DockerEndpoint, signal?: AbortSignal): Promise<DockerSnapshot> {
  const paths = ["/version", "/info", "/containers/json?all=1", "/images/json", "/volumes", "/networks"] as const;
  const [version, info, containers, images, volumes, networks] = await Promise.all(paths.map((path) => dockerGet(docker, path, signal)));
  const engine = record(version);
  const host = record(info);
  return {
    collectedAt: new Date().toISOString(),
    engine: { version: text(engine.Version), apiVersion: text(engine.ApiVersion), os: text(engine.Os), arch: text(engine.Arch), kernelVersion: text(engine.KernelVersion) },
    host: { name: text(host.Name), cpus: Math.trunc(count(host.NCPU)), memoryBytes: count(host.MemTotal) },
    containers: list(containers).map(record).map((c) => ({
      id: text(c.Id),
      names: list(c.Names).map(text).map((name) => name.replace(/^\//, "")),
      image: text(c.Image),
      state: text(c.State),
      status: text(c.Status),
      created: count(c.Created),
    })),
    images: list(images).map(record).map((i) => ({
      id: text(i.Id),
      tags: list(i.RepoTags).map(text).filter((tag) => tag !== "" && tag !== "<none>:<none>"),
      sizeBytes: count(i.Size),
      created: count(i.Created),
    })),
    volumes: list(record(volumes).Volumes).map(record).map((v) => ({ name: text(v.Name), driver: text(v.Driver) })),
    networks: list(networks).map(record).map((n) => ({ id: text(n.Id), name: text(n.Name), driver: text(n.Driver) })),
  };
}

/** A snapshot as the JSON body to post, and what had to be left out to stay under `maxSnapshotBytes`. */
export interface SnapshotBody {
  readonly json: string;
  /** Empty when everything fits; else e.g. "120 of 4000 images". */
  readonly trimmed: string[];
}

/**
 * Serialises a snapshot for the server, cutting its lists proportionally (keeping the first
 * entries Docker listed: newest containers first) until it fits in `limit` bytes.
 *
 * @example
 * const { json, trimmed } = encodeSnapshot(snapshot);
 * if (trimmed.length > 0) log.log("warn", `snapshot trimmed: ${trimmed.join(", ")}`);
 */
export function encodeSnapshot(snapshot: DockerSnapshot, limit = maxSnapshotBytes): SnapshotBody {
  let json = JSON.stringify(snapshot);
  let kept = snapshot;
  for (let size = Buffer.byteLength(json); size > limit; size = Buffer.byteLength(json)) {
    // 0.9: aim a little under, so one or two passes are enough.
    const ratio = (limit / size) * 0.9;
    const cut = <T>(items: T[]): T[] => items.slice(0, Math.floor(items.length * ratio));
    kept = { ...kept, containers: cut(kept.containers), images: cut(kept.images), volumes: cut(kept.volumes), networks: cut(kept.networks) };
    json = JSON.stringify(kept);
  }
  const trimmed = (["containers", "images", "volumes", "networks"] as const)
    .filter((key) => kept[key].length < snapshot[key].length)
    .map((key) => `${kept[key].length} of ${snapshot[key].length} ${key}`);
  return { json, trimmed };
}

/** What `watchDockerEvents` reports. */
export interface DockerEventHandlers {
  /** Something in the snapshot may have changed (debounced). */
  onChange(): void;
  /** The event stream is (re)connected: events may have been missed while it was down. */
  onConnected?(): void;
  /** The event stream failed or Docker is unreachable; it is retried with backoff. */
  onError(error: AgentError): void;
}

/** Event types that can change a snapshot. */
const watchedTypes = ["container", "image", "volume", "network"];
// Container actions that change nothing we report. Health checks run as exec, so without this a
// container with a 10 s health check would cost a snapshot every 10 s.
const ignoredActions = /^(exec_|attach$|detach$|resize$|top$|archive-path$|extract-to-dir$|export$|copy$)/;
const debounceMs = 300;
// A steady trickle of events still yields a snapshot this often.
const maxDelayMs = 3000;
const maxEventBytes = 1024 * 1024;
// A stream that stayed up this long counts as a success: the next failure starts backoff afresh.
const stableMs = 30_000;

/**
 * Follows Docker's event stream until `signal` aborts and calls `onChange` (debounced) when a
 * container, image, volume or network changes. Reconnects with backoff when Docker goes away
 * (restart, not running yet). Never rejects: failures go to `onError`.
 *
 * @example
 * await watchDockerEvents(docker, signal, { onChange: () => void sendSnapshot(), onError: (e) => log.log("warn", e.message) });
 */
export async function watchDockerEvents(docker: DockerEndpoint, signal: AbortSignal, handlers: DockerEventHandlers): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let firstPending = 0;
  const changed = () => {
    const now = Date.now();
    if (timer === undefined) firstPending = now;
    clearTimeout(timer);
    timer = setTimeout(fire, Math.max(0, Math.min(debounceMs, firstPending + maxDelayMs - now)));
  };
  const fire = () => {
    timer = undefined;
    if (!signal.aborted) handlers.onChange();
  };
  const path = `/events?filters=${encodeURIComponent(JSON.stringify({ type: watchedTypes }))}`;
  for (let attempt = 0; !signal.aborted; ) {
    const startedAt = Date.now();
    try {
      await followEvents(docker, path, signal, () => handlers.onConnected?.(), (event) => {
        if (!ignoredActions.test(text(event.Action) || text(event.status))) changed();
      });
      if (Date.now() - startedAt > stableMs) attempt = 0;
    } catch (error) {
      if (signal.aborted) break;
      handlers.onError(dockerUnavailable(docker, error));
    }
    await sleep(backoffDelay(attempt++), signal);
  }
  clearTimeout(timer);
}

/** One connection to `/events`: resolves when the stream ends or breaks, rejects when it cannot connect. */
async function followEvents(docker: DockerEndpoint, path: string, signal: AbortSignal, onConnected: () => void, onEvent: (event: Json) => void): Promise<void> {
  const response = await dockerResponse(docker, path, signal);
  if (response.statusCode !== 200) {
    response.resume();
    throw new Error(`Docker answered HTTP ${response.statusCode} to GET /events`);
  }
  onConnected();
  await new Promise<void>((resolve) => {
    // Docker writes one JSON object per line, but a chunk may end mid-line.
    const decoder = new TextDecoder();
    let buffer = "";
    response.on("data", (chunk: Buffer) => {
      buffer += decoder.decode(chunk, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      // a "line" this long is not an event: count it as a change and drop it
      if (buffer.length > maxEventBytes) {
        buffer = "";
        onEvent({});
      }
      for (const line of lines) {
        if (line.trim() === "") continue;
        try {
          onEvent(record(JSON.parse(line)));
        } catch {
          // an unreadable event still says something changed
          onEvent({});
        }
      }
    });
    // A stream that breaks after it connected (Docker stopped or was killed) is not an error of
    // its own: the reconnection says why Docker is gone, if it still is.
    response.on("error", () => undefined);
    response.on("close", resolve);
  });
}
