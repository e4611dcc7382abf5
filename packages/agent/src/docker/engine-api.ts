import type { IncomingMessage, RequestOptions } from "node:http";
import { AgentError } from "../errors.ts";
import { dockerTimeoutMs, dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";

// See docker-client.ts: `request` without binding node:http's named exports keeps undici unloaded.
const { request } = process.getBuiltinModule("node:http");

/**
 * Write access to the Docker Engine API (create, start, stop, remove, pull) for the fleet
 * runtimes: one client for stacks, swarm services and jobs, so every call has the same limits,
 * timeouts and error messages.
 */

/** A pull answers progress for as long as layers download; it fails only when nothing arrives for this long. */
export const pullIdleTimeoutMs = 120_000;

// Inspect and list answers are small; logs of a job are capped by their caller. More is a fault.
const maxAnswerBytes = 64 * 1024 * 1024;
// One progress line of a pull is a few hundred bytes; a line this long is not Docker's.
const maxPullLineBytes = 1024 * 1024;

/** Options of one Engine API call. */
export interface DockerRequestOptions {
  /** A JSON value (sent as `application/json`), or raw bytes / text sent as they are. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** For the whole call, connecting to the last byte of the answer; default `dockerTimeoutMs` (10 s). */
  readonly timeoutMs?: number;
}

/** An Engine API answer, any status: the caller decides which statuses are expected. */
export interface DockerAnswer {
  readonly status: number;
  readonly ok: boolean;
  text(): string;
  /** The body as Docker sent it (a container's log stream is binary: 8-byte frame headers). */
  bytes(): Buffer;
  /** The body parsed as JSON; `undefined` for an empty body (204). */
  json(): unknown;
  /** Docker's own `message` for an error answer, or the text. */
  message(): string;
}

/** Credentials for a registry, sent as `X-Registry-Auth`. */
export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
  /** Host[:port] of the registry, as in the image reference. */
  readonly serveraddress: string;
}

function timeoutError(ms: number): Error {
  return Object.assign(new Error(`timed out after ${ms} ms`), { code: "ETIMEDOUT" });
}

function target(docker: DockerEndpoint): RequestOptions {
  return docker.kind === "unix" ? { socketPath: docker.socketPath } : { host: docker.host, port: docker.port };
}

function encodeBody(body: unknown): { bytes: Buffer | undefined; type: string | undefined } {
  if (body === undefined) return { bytes: undefined, type: undefined };
  if (Buffer.isBuffer(body)) return { bytes: body, type: "application/octet-stream" };
  if (typeof body === "string") return { bytes: Buffer.from(body, "utf8"), type: "text/plain" };
  return { bytes: Buffer.from(JSON.stringify(body), "utf8"), type: "application/json" };
}

function answer(docker: DockerEndpoint, method: string, path: string, status: number, raw: Buffer): DockerAnswer {
  const body = raw.toString("utf8");
  return {
    status,
    ok: status >= 200 && status <= 299,
    text: () => body,
    bytes: () => raw,
    json: () => {
      if (body.trim() === "") return undefined;
      try {
        return JSON.parse(body) as unknown;
      } catch (error) {
        const cause = `Docker at ${docker.url} answered ${method} ${path} with something that is not JSON.`;
        throw new AgentError("docker_unavailable", `${cause} Check that DOCKER_HOST points at a Docker Engine.`, { cause: error, explained: { code: "docker_not_json", cause, fix: "Check that DOCKER_HOST points at a Docker Engine." } });
      }
    },
    message: () => dockerMessage(body),
  };
}

function dockerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: the text is the message
  }
  return body.trim();
}

function send(docker: DockerEndpoint, method: string, path: string, options: DockerRequestOptions, timeoutMs: number, onResponse: (response: IncomingMessage, done: () => void, fail: (error: Error) => void) => void): Promise<void> {
  const { bytes, type } = encodeBody(options.body);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error && options.signal?.aborted) reject(options.signal.reason instanceof Error ? options.signal.reason : error);
      else if (error) reject(dockerUnavailable(docker, error));
      else resolve();
    };
    const headers: Record<string, string> = { host: "docker", accept: "application/json", ...(type ? { "content-type": type } : {}), ...(bytes ? { "content-length": String(bytes.length) } : {}), ...options.headers };
    // No keep-alive pool: a pooled socket would outlive an aborted activity (as in docker-client.ts).
    const req = request({ ...target(docker), path, method, headers, agent: false, ...(options.signal ? { signal: options.signal } : {}) }, (response) => {
      response.on("error", (error) => finish(error));
      onResponse(response, () => finish(), (error) => {
        req.destroy(error);
        finish(error);
      });
    });
    const timer = setTimeout(() => req.destroy(timeoutError(timeoutMs)), timeoutMs);
    req.on("error", (error) => finish(error));
    req.end(bytes);
  });
}

/**
 * Calls the Docker Engine API (`method path`, `path` with its query) and resolves with the
 * answer, whatever its status. Rejects only when Docker cannot be reached, does not answer within
 * `timeoutMs`, or `signal` aborts: an `AgentError("docker_unavailable")` naming the host and the fix.
 *
 * @example
 * const created = await dockerRequest(docker, "POST", "/containers/create?name=web-1", { body: { Image: "nginx:1" } });
 * if (!created.ok) throw dockerRefused(docker, "POST", "/containers/create", created);
 */
export async function dockerRequest(docker: DockerEndpoint, method: string, path: string, options: DockerRequestOptions = {}): Promise<DockerAnswer> {
  const timeoutMs = options.timeoutMs ?? dockerTimeoutMs;
  let status = 0;
  let body = Buffer.alloc(0);
  await send(docker, method, path, options, timeoutMs, (response, done, fail) => {
    status = response.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxAnswerBytes) fail(new Error(`the answer to ${method} ${path} exceeds ${maxAnswerBytes} bytes`));
      else chunks.push(chunk);
    });
    response.on("end", () => {
      body = Buffer.concat(chunks);
      done();
    });
  });
  return answer(docker, method, path, status, body);
}

/**
 * The error for an answer Docker refused (4xx/5xx): `AgentError("docker_failed")` with Docker's
 * own message, e.g. `Docker refused POST /containers/create (HTTP 404): No such image: web:2`.
 */
export function dockerRefused(docker: DockerEndpoint, method: string, path: string, refused: DockerAnswer): AgentError {
  const route = path.split("?")[0] ?? path;
  const cause = `Docker refused ${method} ${route} (HTTP ${refused.status}): ${refused.message().slice(0, 1000) || "(no message)"}`;
  const fix = refused.status >= 500 ? "Check the Docker daemon's log." : "Check the stack's definition.";
  return new AgentError("docker_failed", cause, { explained: { code: `docker_http_${refused.status}`, cause, fix } });
}

/**
 * Calls the Engine API and returns the parsed JSON of a 2xx answer (`undefined` for 204); any
 * other status rejects with `dockerRefused`'s error. Shorthand for the common case.
 *
 * @example
 * const info = (await dockerCall(docker, "GET", "/containers/web-1/json")) as { State: { Running: boolean } };
 */
export async function dockerCall(docker: DockerEndpoint, method: string, path: string, options: DockerRequestOptions = {}): Promise<unknown> {
  const result = await dockerRequest(docker, method, path, options);
  if (!result.ok) throw dockerRefused(docker, method, path, result);
  return result.json();
}

/**
 * The `X-Registry-Auth` header value: padded base64url of the JSON `{username, password, serveraddress}`
 * (the Engine API's "auth configuration"). The value carries the password: never log it.
 */
export function registryAuthHeader(auth: RegistryAuth): string {
  const encoded = Buffer.from(JSON.stringify({ username: auth.username, password: auth.password, serveraddress: auth.serveraddress }), "utf8").toString("base64url");
  // Padded, as the docker CLI sends it: Docker 20.10 decodes with Go's base64.URLEncoding, which
  // fails on a missing "=" and then pulls anonymously ("no basic auth credentials").
  return encoded.padEnd(Math.ceil(encoded.length / 4) * 4, "=");
}

/**
 * Splits an image reference into the `fromImage` and `tag` of `POST /images/create`. A reference
 * without a tag means `latest` (an empty `tag` would make Docker pull every tag of the repository).
 *
 * @example
 * imagePullQuery("registry:5000/app/web"); // { fromImage: "registry:5000/app/web", tag: "latest" }
 * imagePullQuery("busybox@sha256:ab…");    // { fromImage: "busybox", tag: "sha256:ab…" }
 */
export function imagePullQuery(image: string): { fromImage: string; tag: string } {
  const at = image.indexOf("@");
  if (at >= 0) return { fromImage: image.slice(0, at), tag: image.slice(at + 1) };
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  if (colon > slash) return { fromImage: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { fromImage: image, tag: "latest" };
}

/** The registry host of an image reference (`docker.io` when it names none), to choose its credentials. */
export function imageRegistry(image: string): string {
  const first = image.split("/")[0] ?? "";
  const hasHost = image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  return hasHost ? first : "docker.io";
}

/** One line of a pull's progress stream (`{status, id, progressDetail}`), as Docker sent it. */
export interface PullProgress {
  readonly status?: string;
  readonly id?: string;
  readonly progress?: string;
}

/** Options of `pullImage`. */
export interface PullOptions {
  readonly auth?: RegistryAuth;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PullProgress) => void;
  /** Fails the pull when Docker sends nothing for this long; default `pullIdleTimeoutMs`. */
  readonly idleTimeoutMs?: number;
}

/**
 * Pulls `image` (`POST /images/create`), reading Docker's progress stream to its end: the pull is
 * done only then. An `error`/`errorDetail` line in the stream, or a refused request, rejects with
 * `AgentError("docker_failed")` carrying Docker's message (`manifest unknown`, `unauthorized`…).
 *
 * @example
 * await pullImage(docker, "registry:5000/web:2", { auth: { username: "ci", password, serveraddress: "registry:5000" }, signal });
 */
export async function pullImage(docker: DockerEndpoint, image: string, options: PullOptions = {}): Promise<void> {
  const { fromImage, tag } = imagePullQuery(image);
  const path = `/images/create?fromImage=${encodeURIComponent(fromImage)}&tag=${encodeURIComponent(tag)}`;
  const idleMs = options.idleTimeoutMs ?? pullIdleTimeoutMs;
  const headers: Record<string, string> = options.auth ? { "x-registry-auth": registryAuthHeader(options.auth) } : {};
  let failure: AgentError | undefined;
  const pullFailed = (message: string) => {
    const cause = `Docker could not pull ${image}: ${message.slice(0, 1000)}`;
    return new AgentError("docker_failed", cause, { explained: { code: "docker_pull_failed", cause, fix: "Check the image name and tag, and the registry's credentials (Registries) if it needs them." } });
  };
  // The call's own timeout is the idle timeout, re-armed by every chunk below.
  await send(docker, "POST", path, { headers, ...(options.signal ? { signal: options.signal } : {}) }, 2 ** 31 - 1, (response, done, fail) => {
    const status = response.statusCode ?? 0;
    let idle = setTimeout(() => fail(timeoutError(idleMs)), idleMs);
    const rearm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(timeoutError(idleMs)), idleMs);
    };
    let pending = "";
    const line = (text: string) => {
      if (text.trim() === "" || failure) return;
      let parsed: { status?: unknown; id?: unknown; progress?: unknown; error?: unknown; errorDetail?: { message?: unknown } };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        return;
      }
      const error = typeof parsed.errorDetail?.message === "string" ? parsed.errorDetail.message : typeof parsed.error === "string" ? parsed.error : undefined;
      if (error !== undefined) failure = pullFailed(error);
      else options.onProgress?.({ ...(typeof parsed.status === "string" ? { status: parsed.status } : {}), ...(typeof parsed.id === "string" ? { id: parsed.id } : {}), ...(typeof parsed.progress === "string" ? { progress: parsed.progress } : {}) });
    };
    response.on("data", (chunk: Buffer) => {
      rearm();
      pending += chunk.toString("utf8");
      if (pending.length > maxPullLineBytes) return fail(new Error(`a line of the answer to POST /images/create exceeds ${maxPullLineBytes} bytes`));
      // A refused pull answers one JSON `{message}`, read whole at the end.
      if (status < 200 || status > 299) return;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
    });
    response.on("end", () => {
      clearTimeout(idle);
      if (status < 200 || status > 299) failure = pullFailed(`HTTP ${status}: ${dockerMessage(pending) || "(no message)"}`);
      else line(pending);
      done();
    });
    response.on("close", () => clearTimeout(idle));
  });
  if (failure) throw failure;
}
