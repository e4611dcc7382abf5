import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { AgentError } from "../errors.ts";
import { parseDockerHost, type DockerEndpoint } from "./docker-client.ts";
import { dockerCall, dockerRequest, imagePullQuery, imageRegistry, pullImage, registryAuthHeader } from "./engine-api.ts";

const local = parseDockerHost(undefined);
const suffix = randomBytes(4).toString("hex");

async function failure(promise: Promise<unknown>): Promise<AgentError> {
  const error: unknown = await promise.then(() => undefined, (caught: unknown) => caught);
  if (!(error instanceof AgentError)) throw new Error(`expected an AgentError, got ${String(error)}`);
  return error;
}

/** A stand-in Docker Engine on a unix socket, for answers the real one cannot be made to give here (a pull progress stream). */
async function standInDocker(handler: Parameters<typeof createServer>[1]): Promise<{ docker: DockerEndpoint; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "pier-engine-api-"));
  const socketPath = join(dir, "docker.sock");
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    docker: parseDockerHost(`unix://${socketPath}`),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("image references", () => {
  it("pulls `latest` for an untagged reference (never every tag) and keeps registry ports apart from tags", () => {
    expect(imagePullQuery("busybox")).toEqual({ fromImage: "busybox", tag: "latest" });
    expect(imagePullQuery("registry:5000/app/web")).toEqual({ fromImage: "registry:5000/app/web", tag: "latest" });
    expect(imagePullQuery("registry:5000/app/web:2")).toEqual({ fromImage: "registry:5000/app/web", tag: "2" });
    expect(imagePullQuery("busybox@sha256:abc")).toEqual({ fromImage: "busybox", tag: "sha256:abc" });
    expect(imageRegistry("busybox")).toBe("docker.io");
    expect(imageRegistry("library/busybox:1")).toBe("docker.io");
    expect(imageRegistry("registry.lan:5000/web:1")).toBe("registry.lan:5000");
    expect(imageRegistry("localhost/web")).toBe("localhost");
  });

  it("encodes X-Registry-Auth as padded base64url JSON with Docker's field names (Docker 20.10 ignores an unpadded one)", () => {
    const header = registryAuthHeader({ username: "ci", password: "p>?>?x", serveraddress: "registry.lan:5000" });
    expect(header).not.toMatch(/[+/]/);
    // This JSON is 73 bytes: a partial last quantum, so padding is needed.
    expect(header).toMatch(/=$/);
    expect(header.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(header, "base64url").toString("utf8"))).toEqual({ username: "ci", password: "p>?>?x", serveraddress: "registry.lan:5000" });
  });
});

describe("dockerRequest on the real engine", () => {
  const name = `pier-engine-api-${suffix}`;
  afterAll(async () => {
    await dockerRequest(local, "DELETE", `/containers/${name}?force=true`);
  });

  it("creates, starts, inspects and removes a container; a refused call carries Docker's message", async () => {
    const created = (await dockerCall(local, "POST", `/containers/create?name=${name}`, { body: { Image: "pier-test/busybox:latest", Cmd: ["sleep", "60"], Labels: { "pier.test": suffix } } })) as { Id: string };
    expect(created.Id).toMatch(/^[0-9a-f]{64}$/);
    const started = await dockerRequest(local, "POST", `/containers/${name}/start`);
    expect(started.status).toBe(204);
    expect(started.json()).toBeUndefined();
    const inspected = (await dockerCall(local, "GET", `/containers/${name}/json`)) as { State: { Running: boolean }; Config: { Labels: Record<string, string> } };
    expect(inspected.State.Running).toBe(true);
    expect(inspected.Config.Labels["pier.test"]).toBe(suffix);
    expect((await dockerRequest(local, "DELETE", `/containers/${name}?force=true`)).status).toBe(204);

    const missing = await failure(dockerCall(local, "GET", `/containers/${name}/json`));
    expect(missing.code).toBe("docker_failed");
    expect(missing.message).toContain(`Docker refused GET /containers/${name}/json (HTTP 404): No such container`);
  });

  it("fails a pull Docker cannot do with Docker's reason", async () => {
    // Port 1 on loopback: nothing listens, so the daemon's pull fails at once, without the internet.
    const error = await failure(pullImage(local, `127.0.0.1:1/pier-missing-${suffix}:1`));
    expect(error.code).toBe("docker_failed");
    expect(error.message).toContain(`Docker could not pull 127.0.0.1:1/pier-missing-${suffix}:1`);
    expect(error.message).toMatch(/connection refused|dial tcp/);
  });

  it("names the socket when Docker cannot be reached", async () => {
    const error = await failure(dockerRequest(parseDockerHost("unix:///nonexistent/docker.sock"), "POST", "/containers/create"));
    expect(error.code).toBe("docker_unavailable");
    expect(error.message).toContain("/nonexistent/docker.sock");
  });
});

describe("pullImage's progress stream (stand-in engine)", () => {
  it("reads the stream to its end, reports progress, sends the credentials, and fails on an error line despite HTTP 200", async () => {
    let auth: string | undefined;
    let query = "";
    const engine = await standInDocker((req, res) => {
      auth = req.headers["x-registry-auth"] as string | undefined;
      query = req.url ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`${JSON.stringify({ status: "Pulling from app/web", id: "2" })}\n`);
      setTimeout(() => {
        res.write(`${JSON.stringify({ status: "Downloading", id: "abc", progress: "[==>  ]" })}\n`);
        res.end(`${JSON.stringify({ errorDetail: { message: "unauthorized: authentication required" }, error: "unauthorized: authentication required" })}\n`);
      }, 50);
    });
    try {
      const progress: string[] = [];
      const error = await failure(pullImage(engine.docker, "registry.lan:5000/app/web:2", { auth: { username: "ci", password: "secret", serveraddress: "registry.lan:5000" }, onProgress: (line) => progress.push(line.status ?? "") }));
      expect(progress).toEqual(["Pulling from app/web", "Downloading"]);
      expect(error.code).toBe("docker_failed");
      expect(error.message).toBe("Docker could not pull registry.lan:5000/app/web:2: unauthorized: authentication required");
      expect(query).toBe("/images/create?fromImage=registry.lan%3A5000%2Fapp%2Fweb&tag=2");
      expect(JSON.parse(Buffer.from(auth ?? "", "base64url").toString("utf8"))).toMatchObject({ username: "ci", serveraddress: "registry.lan:5000" });
    } finally {
      await engine.close();
    }
  });

  it("succeeds only once the stream ends, and fails when Docker goes silent past the idle timeout", async () => {
    let finished = false;
    const engine = await standInDocker((req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ status: "Pulling" })}\n`);
      if (req.url?.includes("silent")) return;
      setTimeout(() => {
        finished = true;
        res.end(`${JSON.stringify({ status: "Status: Downloaded newer image" })}\n`);
      }, 100);
    });
    try {
      await pullImage(engine.docker, "web:1");
      expect(finished).toBe(true);
      const error = await failure(pullImage(engine.docker, "silent:1", { idleTimeoutMs: 200 }));
      expect(error.code).toBe("docker_unavailable");
      expect(error.message).toMatch(/timed out|did not answer/);
    } finally {
      await engine.close();
    }
  });
});
