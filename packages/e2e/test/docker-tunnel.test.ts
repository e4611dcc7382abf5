import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { PierApi, docker, startPierAgent, startPierServer, tempDir, testImage, until, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Docker through the agent: a real engine, a real server and a real agent on loopback. The
 * agent reaches the server over its session; the server reaches Docker through tunnel streams.
 */
const password = "correct horse battery staple";
const tag = `pier-e2e-${process.pid}`;
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let agent: PierProcess;
let environmentId: number;
let jwt: string;

/** `Pier`'s Docker state in an endpoint answer. */
interface DockerHealth {
  Heartbeat: boolean;
  Pier: { DockerStatus: string; DockerError: string | null };
}

/**
 * A unix socket that forwards every connection to the main engine's socket: the agent's
 * `DOCKER_HOST`, which the test takes away (listener and live connections) and gives back.
 */
function dockerSocketProxy(path: string) {
  const held = new Set<Socket>();
  let server: Server | undefined;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const engine = connect("/var/run/docker.sock");
        for (const socket of [client, engine]) {
          held.add(socket);
          socket.on("close", () => held.delete(socket)).on("error", () => undefined);
        }
        client.pipe(engine).pipe(client);
      });
      server.once("error", reject).listen(path, () => resolve());
    });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of held) socket.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
      rmSync(path, { force: true });
    });
  return { open, close };
}

interface SnapshotReport {
  Time: number;
  Snapshot: { collectedAt: string; containers: { id: string; names: string[]; state: string }[] };
}

const dockerApi = <T = unknown>(method: string, path: string, body?: unknown) => api.call<T>(method, `/api/endpoints/${environmentId}/docker${path}`, body);

beforeAll(async () => {
  dir = tempDir("docker-tunnel");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] });
  api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  const login = await api.call<{ jwt: string }>("POST", "/api/auth", { Username: "admin", Password: password });
  jwt = login.body.jwt;
  await api.login("admin", password);
  agent = startPierAgent({ edgeId: "edge-docker", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
  const [, id] = await agent.waitFor(/as environment (\d+)/);
  environmentId = Number(id);
});

afterAll(async () => {
  await agent.stop();
  await server.stop();
  for (const name of [`${tag}-outside`, `${tag}-api`, `${tag}-logs`]) {
    try {
      docker(["rm", "-f", name]);
    } catch {
      // already gone
    }
  }
  await dir[Symbol.asyncDispose]();
});

describe("Docker through the tunnel", () => {
  it("refuses the proxy for a waiting-room device, an unknown one, and without login", async () => {
    const waiting = await dockerApi<{ message: string }>("GET", "/containers/json");
    expect(waiting.status).toBe(403);
    expect(waiting.body.message).toMatch(/associate/i);
    expect((await api.call("GET", "/api/endpoints/9999/docker/containers/json")).status).toBe(404);
    const anonymous = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    expect((await anonymous.call("GET", `/api/endpoints/${environmentId}/docker/containers/json`)).status).toBe(401);
    expect((await api.call("POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
  });

  it("shows a container started outside Pier in the snapshot", async () => {
    docker(["run", "-d", "--name", `${tag}-outside`, testImage, "sleep", "300"]);
    const snapshot = await until("the container in the snapshot", async () => {
      const res = await api.call<SnapshotReport>("GET", `/api/endpoints/${environmentId}/docker-snapshot`);
      return res.status === 200 && res.body.Snapshot.containers.some((c) => c.names.includes(`${tag}-outside`) && c.state === "running") ? res.body : undefined;
    });
    expect(snapshot.Time).toBeGreaterThan(0);
    const endpoint = await api.call<{ Snapshots: { RunningContainerCount: number; DockerVersion: string }[] }>("GET", `/api/endpoints/${environmentId}`);
    expect(endpoint.body.Snapshots[0]?.RunningContainerCount).toBeGreaterThan(0);
    expect(endpoint.body.Snapshots[0]?.DockerVersion).toMatch(/^\d+\./);
  });

  it("creates, starts, stops and removes a container through the API", async () => {
    const created = await dockerApi<{ Id: string }>("POST", `/containers/create?name=${tag}-api`, { Image: testImage, Cmd: ["sleep", "300"] });
    expect(created.status).toBe(201);
    expect((await dockerApi("POST", `/containers/${created.body.Id}/start`)).status).toBe(204);
    expect(docker(["inspect", "-f", "{{.State.Running}}", `${tag}-api`])).toBe("true");
    const listed = await dockerApi<{ Names: string[] }[]>("GET", "/containers/json");
    expect(listed.status).toBe(200);
    expect(listed.body.some((c) => c.Names.includes(`/${tag}-api`))).toBe(true);
    expect((await dockerApi("POST", `/containers/${created.body.Id}/stop?t=1`)).status).toBe(204);
    expect(docker(["inspect", "-f", "{{.State.Running}}", `${tag}-api`])).toBe("false");
    expect((await dockerApi("DELETE", `/containers/${created.body.Id}`)).status).toBe(204);
    expect(() => docker(["inspect", `${tag}-api`])).toThrow();
  });

  it("follows a container's logs live through the tunnel", async () => {
    docker(["run", "-d", "--name", `${tag}-logs`, testImage, "sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"]);
    const seen = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: "localhost",
          port: server.httpsPort,
          path: `/api/endpoints/${environmentId}/docker/containers/${tag}-logs/logs?follow=1&stdout=1`,
          ca: readFileSync(dir.file("data/ca/ca.crt")),
          headers: { authorization: `Bearer ${jwt}` },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => {
            text += chunk.toString("latin1");
            if (/line-8/.test(text)) {
              req.destroy();
              resolve(text);
            }
          });
          res.on("error", () => undefined);
        },
      );
      req.on("error", (error) => (/line-8/.test(String(error)) ? undefined : reject(error)));
      req.end();
      setTimeout(() => reject(new Error("no live log lines")), 15_000);
    });
    expect(seen).toMatch(/line-1[\s\S]*line-8/);
  });

  it("says so at once when the device cannot reach its Docker Engine", async () => {
    await using dockerless = startPierAgent({ edgeId: "edge-no-docker", edgeKey: server.edgeKey, dataDir: dir.file("agent-no-docker"), env: { DOCKER_HOST: `unix://${dir.file("no-docker.sock")}` } });
    const [, id] = await dockerless.waitFor(/as environment (\d+)/);
    await api.call("POST", `/api/endpoints/${id}/edge/trust`);
    await dockerless.waitFor(/associated by the administrator/);
    const started = Date.now();
    const res = await api.call<{ message: string }>("GET", `/api/endpoints/${id}/docker/_ping`);
    expect(res.status).toBe(503);
    // The agent's reason whole, to its last word.
    expect(res.body.message).toMatch(/could not reach its Docker Engine: .*not running.* or set DOCKER_HOST\.$/i);
    expect(Date.now() - started).toBeLessThan(3000);
    // Online, and not healthy: its Docker is down, with the reason.
    const endpoint = await until("Docker down on the endpoint", async () => {
      const answer = await api.call<DockerHealth>("GET", `/api/endpoints/${id}`);
      return answer.body.Pier.DockerStatus === "down" ? answer.body : undefined;
    });
    expect(endpoint.Heartbeat).toBe(true);
    expect(endpoint.Pier.DockerError).toMatch(/no-docker\.sock: Docker is not running/);
  });

  it("shows Docker down within a check-in interval of its socket going away, and up again after", async () => {
    const socketPath = dir.file("proxied-docker.sock");
    const proxy = dockerSocketProxy(socketPath);
    await proxy.open();
    // A 1 s check-in interval (the agent's welcome carries it): the bound below is one interval.
    expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
    await using proxied = startPierAgent({ edgeId: "edge-docker-proxied", edgeKey: server.edgeKey, dataDir: dir.file("agent-proxied"), env: { DOCKER_HOST: `unix://${socketPath}` } });
    try {
      const [, id] = await proxied.waitFor(/as environment (\d+)/);
      expect((await api.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
      // The Home list's entry of this device once its Docker state is `status`.
      const listedWith = (status: string, timeoutMs?: number) =>
        until(
          `Docker ${status} in the list`,
          async () => {
            const list = await api.call<(DockerHealth & { Id: number })[]>("GET", "/api/endpoints?search=edge-docker-proxied");
            const entry = list.body.find((candidate) => candidate.Id === Number(id));
            return entry?.Pier.DockerStatus === status ? entry : undefined;
          },
          timeoutMs,
        );
      expect((await listedWith("up")).Pier.DockerError).toBeNull();
      await proxy.close();
      const stoppedAt = Date.now();
      const down = await listedWith("down");
      const tookMs = Date.now() - stoppedAt;
      console.log(`Docker down shown ${tookMs} ms after its socket went away`);
      // One check-in interval (1 s), and slack for the API's poll (200 ms) and a loaded machine.
      expect(tookMs).toBeLessThan(1_000 + 1_500);
      expect(down.Heartbeat).toBe(true);
      expect(down.Pier.DockerError).toContain(`there is no socket at ${socketPath}`);
      expect((await api.call<DockerHealth>("GET", `/api/endpoints/${id}`)).body.Pier).toEqual(down.Pier);
      await proxy.open();
      expect((await listedWith("up")).Pier.DockerError).toBeNull();
    } finally {
      await proxy.close();
      expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 5 })).status).toBe(200);
    }
  });

  it("answers 503 while the device is offline and recovers after the agent reconnects", async () => {
    await agent.stop();
    const offline = await until("the proxy to see the device offline", async () => {
      const res = await dockerApi<{ message: string }>("GET", "/_ping");
      return res.status === 503 ? res : undefined;
    });
    expect(offline.body.message).toMatch(/offline/i);
    agent = startPierAgent({ edgeId: "edge-docker", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
    await agent.waitFor(/as environment \d+: associated/);
    const ping = await until("the tunnel after reconnecting", async () => {
      const res = await dockerApi("GET", "/_ping");
      return res.status === 200 ? res : undefined;
    });
    expect(ping.body).toBe("OK");
  });
});
