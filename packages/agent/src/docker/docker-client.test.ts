import { describe, expect, it } from "vitest";
import { encodeEdgeKey } from "@pier/protocol";
import { loadAgentConfig } from "../config.ts";
import { AgentError } from "../errors.ts";
import { connectDocker, dockerGet, dockerUnavailable, parseDockerHost } from "./docker-client.ts";

const local = parseDockerHost(undefined);

async function failure(promise: Promise<unknown>): Promise<AgentError> {
  const error: unknown = await promise.then(() => undefined, (caught: unknown) => caught);
  if (!(error instanceof AgentError)) throw new Error(`expected an AgentError, got ${String(error)}`);
  return error;
}

describe("parseDockerHost", () => {
  it("defaults to Docker's unix socket and reads unix:// and tcp:// like the Docker CLI", () => {
    expect(parseDockerHost(undefined)).toEqual({ kind: "unix", url: "unix:///var/run/docker.sock", socketPath: "/var/run/docker.sock" });
    expect(parseDockerHost(" ")).toEqual(parseDockerHost(undefined));
    expect(parseDockerHost("unix:///run/user/1000/docker.sock")).toMatchObject({ kind: "unix", socketPath: "/run/user/1000/docker.sock" });
    expect(parseDockerHost("tcp://10.0.0.5:2375")).toEqual({ kind: "tcp", url: "tcp://10.0.0.5:2375", host: "10.0.0.5", port: 2375 });
    expect(parseDockerHost("tcp://docker.lan")).toMatchObject({ host: "docker.lan", port: 2375 });
    expect(parseDockerHost("tcp://[::1]:2376")).toMatchObject({ host: "::1", port: 2376 });
  });

  it("refuses other transports and malformed addresses with config_invalid and the accepted forms", () => {
    for (const value of ["npipe:////./pipe/docker_engine", "ssh://me@host", "/var/run/docker.sock", "unix://docker.sock", "tcp://", "tcp://host:2375/path", "tcp://host:notaport"]) {
      let error: unknown;
      try {
        parseDockerHost(value);
      } catch (caught) {
        error = caught;
      }
      expect(error, value).toBeInstanceOf(AgentError);
      expect((error as AgentError).code).toBe("config_invalid");
      expect((error as AgentError).message).toContain(`DOCKER_HOST=${value}`);
      expect((error as AgentError).message).toMatch(/unix:\/\/\/path\/to\/docker\.sock .*tcp:\/\/host:port/);
    }
  });

  it("is checked when the agent's configuration loads", () => {
    const env = { EDGE_ID: "dev-1", EDGE_KEY: encodeEdgeKey({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: "ab".repeat(32), environmentId: 0 }) };
    expect(loadAgentConfig({ flags: {}, env }).docker.url).toBe("unix:///var/run/docker.sock");
    expect(loadAgentConfig({ flags: {}, env: { ...env, DOCKER_HOST: "tcp://127.0.0.1:2375" } }).docker).toMatchObject({ kind: "tcp", port: 2375 });
    expect(() => loadAgentConfig({ flags: {}, env: { ...env, DOCKER_HOST: "ssh://me@host" } })).toThrow(/DOCKER_HOST=ssh:\/\/me@host: this transport is not supported/);
  });
});

describe("dockerGet against the local engine", () => {
  it("reads /version", async () => {
    const version = (await dockerGet(local, "/version")) as { Version: string; ApiVersion: string };
    expect(version.Version).toMatch(/^\d+\./);
    expect(version.ApiVersion).toMatch(/^1\.\d+$/);
  });

  it("names the socket and says Docker is not running when the socket does not exist", async () => {
    const error = await failure(dockerGet(parseDockerHost("unix:///tmp/pier-no-such-docker.sock"), "/version"));
    expect(error.code).toBe("docker_unavailable");
    expect(error.explained?.code).toBe("docker_not_running");
    expect(error.message).toContain("unix:///tmp/pier-no-such-docker.sock");
    expect(error.message).toMatch(/Docker is not running/);
    expect(error.message).toMatch(/mount \/var\/run\/docker\.sock/);
  });

  it("says nothing listens when a tcp:// Docker host refuses the connection", async () => {
    const error = await failure(dockerGet(parseDockerHost("tcp://127.0.0.1:1"), "/version"));
    expect(error.message).toMatch(/^Cannot reach Docker at tcp:\/\/127\.0\.0\.1:1: nothing listens on 127\.0\.0\.1:1: Docker is not running/);
  });

  it("passes on Docker's own message for an HTTP error", async () => {
    const error = await failure(dockerGet(local, "/containers/pier-no-such-container/json"));
    expect(error.explained?.code).toBe("docker_http_404");
    expect(error.message).toMatch(/answered HTTP 404 to GET \/containers\/pier-no-such-container\/json: No such container/);
  });

  it("tells a socket without permission to mount it and join the docker group", () => {
    // Tests run as root, which no socket refuses: explain the errno the kernel would give instead.
    const error = dockerUnavailable(local, Object.assign(new Error("connect EACCES /var/run/docker.sock"), { code: "EACCES" }));
    expect(error.explained?.code).toBe("docker_permission_denied");
    expect(error.message).toMatch(/permission denied on the Docker socket \/var\/run\/docker\.sock/);
    expect(error.message).toMatch(/-v \/var\/run\/docker\.sock:\/var\/run\/docker\.sock.*docker group/);
  });
});

describe("connectDocker", () => {
  it("opens a raw connection that speaks HTTP/1.1 to the engine", async () => {
    const socket = await connectDocker(local);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
      socket.write("GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nOK$/);
  });

  it("rejects with the same explanation as dockerGet", async () => {
    const error = await failure(connectDocker(parseDockerHost("unix:///tmp/pier-no-such-docker.sock")));
    expect(error.message).toMatch(/Docker is not running/);
  });
});
