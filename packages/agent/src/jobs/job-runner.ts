import { randomBytes } from "node:crypto";
import { fleetLimits } from "@pier/protocol";
import type { DockerEndpoint } from "../docker/docker-client.ts";
import { dockerCall, dockerRefused, dockerRequest, pullImage } from "../docker/engine-api.ts";

/** How long a job may run before its container is killed (docs/fleet.md "Edge jobs"). */
export const defaultJobTimeoutMs = 60 * 60 * 1000;

/** The label every job container carries: the job's id (`docker ps --filter label=io.pier.edge-job`). */
export const jobLabel = "io.pier.edge-job";

/** What to run. */
export interface JobRunRequest {
  readonly docker: DockerEndpoint;
  /** The image the container runs (needs `/bin/sh`): the agent's own image, or `--job-image`. */
  readonly image: string;
  readonly jobId: number;
  readonly version: number;
  readonly script: string;
  /** Default `defaultJobTimeoutMs` (1 h). */
  readonly timeoutMs?: number;
  /**
   * Default true: the container is privileged (every capability, the host's devices). False keeps
   * Docker's default capabilities (for engines that cannot grant all, e.g. Docker in a restricted container).
   */
  readonly privileged?: boolean;
  /** Aborting kills the container (the agent is stopping). */
  readonly signal?: AbortSignal;
}

/** How one run ended. */
export interface JobRunResult {
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** The script's exit code; absent when it could not be started. */
  readonly exitCode?: number;
  /** Why it could not be started, or why it was stopped (timeout); absent for a run that ended by itself. */
  readonly error?: string;
  /** stdout and stderr as they came, the last `fleetLimits.jobLogBytes` bytes. */
  readonly output: Buffer;
}

/**
 * Demultiplexes a container's log stream (no TTY): frames of an 8-byte header (stream, 0, 0, 0,
 * size as 32-bit big-endian) and `size` bytes; stdout and stderr are kept in the order they came.
 */
export function demultiplexLogs(stream: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= stream.length) {
    const size = stream.readUInt32BE(offset + 4);
    parts.push(stream.subarray(offset + 8, Math.min(stream.length, offset + 8 + size)));
    offset += 8 + size;
  }
  return Buffer.concat(parts);
}

function lastBytes(output: Buffer): Buffer {
  return output.length <= fleetLimits.jobLogBytes ? output : output.subarray(output.length - fleetLimits.jobLogBytes);
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, fleetLimits.errorMessage);
}

/**
 * Runs a job's script on the device's host, as Portainer does: `sh -c <script>` in a short-lived
 * container that is privileged, in the host's PID and network namespaces, with the host's root
 * mounted at `/host` (`chroot /host …` inside the script runs the host's own binaries). The
 * container is labelled `io.pier.edge-job=<id>`, waited for up to the timeout (then killed),
 * its output collected (the last 1 MiB) and removed. Never rejects: a run that could not start
 * resolves with `error` and no `exitCode`.
 *
 * @example
 * const run = await runJob({ docker, image: "pier-test/busybox:latest", jobId: 7, version: 1, script: "df -h /host" });
 * console.log(run.exitCode, run.output.toString());
 */
export async function runJob(request: JobRunRequest): Promise<JobRunResult> {
  const { docker } = request;
  const timeoutMs = request.timeoutMs ?? defaultJobTimeoutMs;
  const startedAt = Date.now();
  const name = `pier-job-${request.jobId}-${randomBytes(4).toString("hex")}`;
  const config = {
    Image: request.image,
    Entrypoint: ["/bin/sh", "-c"],
    Cmd: [request.script],
    WorkingDir: "/",
    Labels: { [jobLabel]: String(request.jobId), [`${jobLabel}.version`]: String(request.version) },
    HostConfig: { Privileged: request.privileged ?? true, PidMode: "host", NetworkMode: "host", Binds: ["/:/host"], AutoRemove: false },
  };
  let id: string | undefined;
  try {
    const createPath = `/containers/create?name=${name}`;
    let created = await dockerRequest(docker, "POST", createPath, { body: config, ...(request.signal ? { signal: request.signal } : {}) });
    if (created.status === 404) {
      // The image is not on the device: pull it once, then create again.
      await pullImage(docker, request.image, request.signal ? { signal: request.signal } : {});
      created = await dockerRequest(docker, "POST", createPath, { body: config, ...(request.signal ? { signal: request.signal } : {}) });
    }
    if (!created.ok) throw dockerRefused(docker, "POST", createPath, created);
    id = (created.json() as { Id: string }).Id;
    await dockerCall(docker, "POST", `/containers/${id}/start`);
    const waited = await waitFor(docker, id, timeoutMs, request.signal);
    const output = await collectOutput(docker, id);
    const finishedAt = Date.now();
    if (waited.kind === "exited") return { startedAt, finishedAt, exitCode: waited.exitCode, output };
    const why = waited.kind === "timeout" ? `the job ran longer than ${Math.round(timeoutMs / 1000)} s and was killed` : "the agent stopped; the job was killed";
    return { startedAt, finishedAt, ...(waited.exitCode === undefined ? {} : { exitCode: waited.exitCode }), error: why, output };
  } catch (error) {
    return { startedAt, finishedAt: Date.now(), error: reason(error), output: Buffer.alloc(0) };
  } finally {
    if (id !== undefined) await dockerRequest(docker, "DELETE", `/containers/${id}?force=1&v=1`).catch(() => undefined);
  }
}

type Waited = { kind: "exited"; exitCode: number } | { kind: "timeout" | "aborted"; exitCode?: number };

/** Waits for the container to exit; kills it at the deadline or when `signal` aborts. */
async function waitFor(docker: DockerEndpoint, id: string, timeoutMs: number, signal?: AbortSignal): Promise<Waited> {
  const stop = new AbortController();
  const deadline = setTimeout(() => stop.abort("timeout"), timeoutMs);
  const onAbort = () => stop.abort("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    // The wait answers when the container exits; the margin keeps the HTTP timeout off the deadline.
    const waited = (await dockerCall(docker, "POST", `/containers/${id}/wait`, { signal: stop.signal, timeoutMs: timeoutMs + 60_000 })) as { StatusCode: number };
    return { kind: "exited", exitCode: waited.StatusCode };
  } catch (error) {
    if (!stop.signal.aborted) throw error;
    const kind = stop.signal.reason === "timeout" ? "timeout" : "aborted";
    await dockerRequest(docker, "POST", `/containers/${id}/kill`).catch(() => undefined);
    const after = (await dockerCall(docker, "POST", `/containers/${id}/wait`).catch(() => undefined)) as { StatusCode?: number } | undefined;
    return after?.StatusCode === undefined ? { kind } : { kind, exitCode: after.StatusCode };
  } finally {
    clearTimeout(deadline);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** stdout and stderr of the container, the last `fleetLimits.jobLogBytes` bytes. */
async function collectOutput(docker: DockerEndpoint, id: string): Promise<Buffer> {
  const logs = await dockerRequest(docker, "GET", `/containers/${id}/logs?stdout=1&stderr=1`, { timeoutMs: 60_000 });
  if (!logs.ok) throw dockerRefused(docker, "GET", `/containers/${id}/logs`, logs);
  return lastBytes(demultiplexLogs(logs.bytes()));
}
