import type { IncomingMessage, RequestOptions } from "node:http";
import { connect, type Socket } from "node:net";
import { AgentError } from "../errors.ts";

// Taken without an ESM import on purpose: binding named exports of `node:http` evaluates its lazy
// WebSocket/CloseEvent/MessageEvent getters, which loads undici and costs the idle agent ~3 MiB RSS
// (measured by bench/docker-proxy.ts). The agent needs only `request`.
const { request } = process.getBuiltinModule("node:http");

/** Where the Docker Engine API listens, from `DOCKER_HOST`. */
export type DockerEndpoint =
  | { readonly kind: "unix"; readonly url: string; readonly socketPath: string }
  | { readonly kind: "tcp"; readonly url: string; readonly host: string; readonly port: number };

/** Docker's own default, used when `DOCKER_HOST` is unset or empty. */
export const defaultDockerHost = "unix:///var/run/docker.sock";

/** How long a Docker API call (or a connection for a tunnel) may take before it counts as failed. */
export const dockerTimeoutMs = 10_000;

// A Docker host with thousands of images answers /images/json with a few MB; far more is a fault.
const maxResponseBytes = 64 * 1024 * 1024;

function invalidHost(value: string, why: string): AgentError {
  return new AgentError("config_invalid", `DOCKER_HOST=${value}: ${why} Use unix:///path/to/docker.sock (default ${defaultDockerHost}) or tcp://host:port (plain TCP).`);
}

/**
 * Reads `DOCKER_HOST` the way the Docker CLI does, for the two transports the agent speaks:
 * a unix socket, or plain TCP (port 2375 when omitted). Anything else is `config_invalid`.
 *
 * @example
 * parseDockerHost(undefined); // { kind: "unix", url: "unix:///var/run/docker.sock", socketPath: "/var/run/docker.sock" }
 * parseDockerHost("tcp://10.0.0.5:2375"); // { kind: "tcp", url: "tcp://10.0.0.5:2375", host: "10.0.0.5", port: 2375 }
 */
export function parseDockerHost(value: string | undefined): DockerEndpoint {
  const raw = value?.trim() || defaultDockerHost;
  if (raw.startsWith("unix://")) {
    const socketPath = raw.slice("unix://".length);
    if (!socketPath.startsWith("/")) throw invalidHost(raw, "a unix socket needs an absolute path (three slashes: unix:///var/run/docker.sock).");
    return { kind: "unix", url: raw, socketPath };
  }
  if (raw.startsWith("tcp://")) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalidHost(raw, "not a valid tcp:// address.");
    }
    if (url.hostname === "" || url.username !== "" || url.password !== "" || !["", "/"].includes(url.pathname) || url.search !== "" || url.hash !== "") {
      throw invalidHost(raw, "a tcp:// address is host:port only.");
    }
    const port = url.port === "" ? 2375 : Number(url.port);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    return { kind: "tcp", url: `tcp://${url.hostname}:${port}`, host, port };
  }
  throw invalidHost(raw, "this transport is not supported (the agent speaks to Docker over a unix socket or plain TCP; ssh:// and npipe:// are not supported).");
}

/** Turns a failure to talk to Docker into an `AgentError` that names the Docker host, the cause and the fix. */
export function dockerUnavailable(docker: DockerEndpoint, error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const where = docker.kind === "unix" ? docker.socketPath : `${docker.host}:${docker.port}`;
  let code = "docker_unreachable";
  let cause = `the connection failed (${message})`;
  let fix = "Check that Docker is running (docker info) and that DOCKER_HOST points at it.";
  if ((errno === "EACCES" || errno === "EPERM") && docker.kind === "unix") {
    code = "docker_permission_denied";
    cause = `permission denied on the Docker socket ${where}`;
    fix = "Mount the socket into the agent's container (-v /var/run/docker.sock:/var/run/docker.sock) and run the agent as root or as a user in the docker group.";
  } else if (errno === "ENOENT" && docker.kind === "unix") {
    code = "docker_not_running";
    cause = `there is no socket at ${where}: Docker is not running (or its socket is not mounted into the agent's container)`;
    fix = "Start Docker (systemctl start docker), mount /var/run/docker.sock into the agent's container, or set DOCKER_HOST.";
  } else if (errno === "ECONNREFUSED") {
    code = "docker_not_running";
    cause = docker.kind === "unix" ? `nothing listens on ${where}: Docker is not running` : `nothing listens on ${where}: Docker is not running or does not listen on TCP there`;
    fix = docker.kind === "unix" ? "Start Docker (systemctl start docker)." : "Start Docker, or make it listen on that address (dockerd -H tcp://…), or fix DOCKER_HOST.";
  } else if (errno === "ENOTFOUND" || errno === "EAI_AGAIN") {
    cause = `the host name ${docker.kind === "tcp" ? docker.host : where} does not resolve`;
    fix = "Fix DOCKER_HOST.";
  } else if (errno === "ETIMEDOUT") {
    code = "docker_timeout";
    cause = `Docker did not answer within ${dockerTimeoutMs / 1000} s`;
    fix = "Check that the Docker daemon is healthy (docker info) and not overloaded.";
  }
  return new AgentError("docker_unavailable", `Cannot reach Docker at ${docker.url}: ${cause}. ${fix}`, { cause: error, explained: { code, cause: `Cannot reach Docker at ${docker.url}: ${cause}.`, fix } });
}

function timeoutError(): Error {
  return Object.assign(new Error("timed out"), { code: "ETIMEDOUT" });
}

function target(docker: DockerEndpoint): RequestOptions {
  return docker.kind === "unix" ? { socketPath: docker.socketPath } : { host: docker.host, port: docker.port };
}

/**
 * Sends `GET path` to the Docker Engine and resolves with the response once its headers are in
 * (any status). The timeout covers connecting and the headers only, so a streaming endpoint
 * (`/events`) may stay open; aborting `signal` destroys the request.
 */
export function dockerResponse(docker: DockerEndpoint, path: string, signal?: AbortSignal): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    // No keep-alive pool: calls are few, and a pooled socket would outlive an aborted activity.
    const req = request({ ...target(docker), path, method: "GET", headers: { host: "docker", accept: "application/json" }, agent: false, ...(signal ? { signal } : {}) }, (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    const timer = setTimeout(() => req.destroy(timeoutError()), dockerTimeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(dockerUnavailable(docker, error));
    });
    req.end();
  });
}

/**
 * Calls the Docker Engine API and returns the parsed JSON body. Rejects with an
 * `AgentError("docker_unavailable")` naming the Docker host, the cause and the fix (socket not
 * mounted, permission denied, Docker not running, timeout, HTTP error).
 *
 * @example
 * const version = (await dockerGet(parseDockerHost(process.env.DOCKER_HOST), "/version")) as { Version: string };
 */
export async function dockerGet(docker: DockerEndpoint, path: string, signal?: AbortSignal): Promise<unknown> {
  const response = await dockerResponse(docker, path, signal);
  const body = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => response.destroy(timeoutError()), dockerTimeoutMs);
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxResponseBytes) response.destroy(new Error(`the answer to GET ${path} exceeds ${maxResponseBytes} bytes`));
      else chunks.push(chunk);
    });
    response.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    response.on("error", (error) => {
      clearTimeout(timer);
      reject(dockerUnavailable(docker, error));
    });
  });
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    let message = body.trim();
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not JSON: keep the text
    }
    const cause = `Docker at ${docker.url} answered HTTP ${status} to GET ${path}: ${message.slice(0, 300) || "(no message)"}.`;
    const fix = "Check the Docker daemon's log.";
    throw new AgentError("docker_unavailable", `${cause} ${fix}`, { explained: { code: `docker_http_${status}`, cause, fix } });
  }
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    const cause = `Docker at ${docker.url} answered GET ${path} with something that is not JSON.`;
    throw new AgentError("docker_unavailable", `${cause} Check that DOCKER_HOST points at a Docker Engine.`, { cause: error, explained: { code: "docker_not_json", cause, fix: "Check that DOCKER_HOST points at a Docker Engine." } });
  }
}

/**
 * Opens a raw connection to the Docker Engine (for a tunnel): resolves once connected, rejects
 * with the same explained `AgentError` as `dockerGet`. The socket is the caller's to close.
 *
 * @example
 * const socket = await connectDocker(docker);
 * socket.end("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
 */
export function connectDocker(docker: DockerEndpoint): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = docker.kind === "unix" ? connect({ path: docker.socketPath }) : connect({ host: docker.host, port: docker.port });
    const timer = setTimeout(() => socket.destroy(timeoutError()), dockerTimeoutMs);
    const failed = (error: Error) => {
      clearTimeout(timer);
      reject(dockerUnavailable(docker, error));
    };
    socket.once("error", failed);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", failed);
      resolve(socket);
    });
  });
}
