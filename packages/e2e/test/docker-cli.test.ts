import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import {
  PierApi,
  bash,
  docker,
  pier,
  run,
  startDockerRegistry,
  startPierAgent,
  startPierDockerProxy,
  startPierServer,
  tempDir,
  testImage,
  until,
  type DockerRegistry,
  type PierDockerProxy,
  type PierProcess,
  type PierServer,
  type TempDir,
} from "../src/index.ts";

/**
 * The real docker CLI against an edge device, through `pier docker-proxy`, the Pier server and
 * the agent's tunnel: a real engine, real processes, loopback only.
 */
const password = "correct horse battery staple";
const tag = `pier-cli-${process.pid}`;
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let agent: PierProcess;
let waiting: PierProcess;
let proxy: PierDockerProxy;
let registry: DockerRegistry;
let environmentId: number;
let waitingId: number;

const proxyArgs = (env: number, socket: string, credentials: string[]) => ["--env", String(env), "--listen", `unix://${dir.file(socket)}`, "--url", `https://localhost:${server.httpsPort}`, "--ca", dir.file("data/ca/ca.crt"), ...credentials];
// A hang through Pier (a header held back, a half-close lost) fails the test in 20 s.
const cliTimeoutMs = 20_000;
/** The docker CLI, pointed at the device through Pier. */
const viaPier = (args: readonly string[]) => docker(args, { DOCKER_HOST: proxy.dockerHost }, cliTimeoutMs);
/** The same, returning status and output instead of throwing. */
const runViaPier = (args: readonly string[], input?: string) => run("docker", args, { env: { DOCKER_HOST: proxy.dockerHost }, timeoutMs: cliTimeoutMs, ...(input === undefined ? {} : { input }) });

beforeAll(async () => {
  dir = tempDir("docker-cli");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")] });
  api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
  const token = await api.call<{ rawAPIKey: string }>("POST", "/api/users/1/tokens", { description: "docker-proxy e2e" });
  writeFileSync(dir.file("api-key"), `${token.body.rawAPIKey}\n`, { mode: 0o600 });
  agent = startPierAgent({ edgeId: "edge-cli", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
  environmentId = Number((await agent.waitFor(/as environment (\d+)/))[1]);
  expect((await api.call("POST", `/api/endpoints/${environmentId}/edge/trust`)).status).toBe(204);
  await agent.waitFor(/associated by the administrator/);
  waiting = startPierAgent({ edgeId: "edge-cli-waiting", edgeKey: server.edgeKey, dataDir: dir.file("agent-waiting"), env: { DOCKER_HOST: "unix:///nonexistent.sock" } });
  waitingId = Number((await waiting.waitFor(/as environment (\d+)/))[1]);
  proxy = await startPierDockerProxy(proxyArgs(environmentId, "edge.sock", ["--api-key-file", dir.file("api-key")]));
  registry = await startDockerRegistry(dir.file("registry"));
});

afterAll(async () => {
  await proxy.stop();
  await Promise.all([agent.stop(), waiting.stop()]);
  await server.stop();
  await registry[Symbol.asyncDispose]();
  run("docker", ["rm", "-f", `${tag}-outside`]);
  run("docker", ["rmi", "-f", `${registry.address}/pier-e2e/pull:${process.pid}`]);
  await dir[Symbol.asyncDispose]();
});

describe("the docker CLI through pier docker-proxy", () => {
  it("listens on a socket only its owner can use and prints the DOCKER_HOST", () => {
    expect(proxy.dockerHost).toBe(`unix://${dir.file("edge.sock")}`);
    expect(statSync(dir.file("edge.sock")).mode & 0o777).toBe(0o600);
    expect(proxy.output()).toMatch(new RegExp(`environment ${environmentId} \\("[^"]+"\\) on https://localhost:${server.httpsPort} is served at unix://`));
  });

  it("docker ps lists a container started outside Pier", () => {
    docker(["run", "-d", "--name", `${tag}-outside`, testImage, "sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"]);
    expect(viaPier(["ps", "--format", "{{.Names}} {{.Status}}"])).toMatch(new RegExp(`^${tag}-outside Up`, "m"));
  });

  it("docker run --rm prints the command's output (attach, start, wait) and removes the container", () => {
    const name = `${tag}-run`;
    expect(viaPier(["run", "--rm", "--name", name, testImage, "echo", "hi"])).toBe("hi");
    expect(run("docker", ["inspect", name]).status).not.toBe(0);
    // Standard input travels too, and its end reaches the command (half-close through every hop).
    const piped = runViaPier(["run", "--rm", "-i", testImage, "cat"], "through the tunnel\n");
    expect(piped.output).toBe("through the tunnel\n");
    expect(piped.status).toBe(0);
  });

  it("docker exec runs a command in a running container, with its exit status, stdin and a TTY", () => {
    expect(viaPier(["exec", `${tag}-outside`, "echo", "from exec"])).toBe("from exec");
    expect(runViaPier(["exec", `${tag}-outside`, "sh", "-c", "exit 3"]).status).toBe(3);
    const piped = runViaPier(["exec", "-i", `${tag}-outside`, "cat"], "stdin for exec\n");
    expect(piped.output).toBe("stdin for exec\n");
    // With a TTY (`-t`), the command's output comes from a terminal, raw through the tunnel.
    expect(viaPier(["exec", "-t", `${tag}-outside`, "sh", "-c", "test -t 1 && echo on a terminal"])).toMatch(/^on a terminal\r?$/);
  });

  it("docker logs -f follows a container live", async () => {
    const follower = spawn("docker", ["logs", "-f", "--tail", "1", `${tag}-outside`], { env: { ...process.env, DOCKER_HOST: proxy.dockerHost } });
    try {
      const lines = await new Promise<number[]>((resolve, reject) => {
        let text = "";
        const timer = setTimeout(() => reject(new Error(`no live log lines, got: ${text}`)), 15_000);
        follower.stdout.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          const seen = [...text.matchAll(/line-(\d+)/g)].map((m) => Number(m[1]));
          if (seen.length >= 5) {
            clearTimeout(timer);
            resolve(seen);
          }
        });
      });
      // Consecutive lines written 0.2 s apart, arriving while the command still runs.
      expect(lines.slice(1)).toEqual(lines.slice(1).map((_, i) => (lines[1] ?? 0) + i));
      expect(follower.exitCode).toBeNull();
    } finally {
      follower.kill();
    }
  });

  it("docker pull reports progress through the tunnel", async () => {
    // An image with a layer the engine does not have, in a registry on loopback.
    const repository = `${registry.address}/pier-e2e/pull`;
    const image = `${repository}:${process.pid}`;
    mkdirSync(dir.file("layer"));
    writeFileSync(dir.file("layer/payload.bin"), randomBytes(4 * 1024 * 1024));
    expect(bash(`tar -C ${dir.file("layer")} -c . | docker import - ${image} && docker push ${image} && docker rmi ${image}`).status).toBe(0);

    const progress = await new Promise<{ status?: string; progressDetail?: { current?: number; total?: number } }[]>((resolve, reject) => {
      const socketPath = dir.file("edge.sock");
      const req = request({ socketPath, method: "POST", path: `/images/create?fromImage=${encodeURIComponent(repository)}&tag=${process.pid}` }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(text.trim().split("\n").map((line) => JSON.parse(line) as { status?: string })));
      });
      req.on("error", reject);
      req.end();
    });
    const statuses = progress.map((p) => p.status ?? "");
    expect(statuses).toContain("Pulling fs layer");
    expect(progress.some((p) => p.status === "Downloading" && (p.progressDetail?.current ?? 0) > 0)).toBe(true);
    expect(statuses).toContain("Pull complete");
    expect(statuses.at(-1)).toMatch(/^Status: Downloaded newer image/);
    expect(docker(["image", "inspect", "-f", "{{.Id}}", image])).toMatch(/^sha256:/);

    run("docker", ["rmi", image]);
    expect(viaPier(["pull", image])).toMatch(/Downloaded newer image/);
  });

  it("refuses to serve a waiting-room device, naming the fix", () => {
    const refused = pier(["docker-proxy", ...proxyArgs(waitingId, "waiting.sock", ["--api-key-file", dir.file("api-key")])]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`Environment ${waitingId} \\("[^"]+"\\) is in the waiting room: associate it first`));
    expect(() => statSync(dir.file("waiting.sock"))).toThrow();
  });

  it("refuses bad credentials and non-loopback listen addresses before listening", () => {
    writeFileSync(dir.file("wrong-key"), "pier_notAValidKey\n");
    const wrongKey = pier(["docker-proxy", ...proxyArgs(environmentId, "wrong.sock", ["--api-key-file", dir.file("wrong-key")])]);
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.stderr).toMatch(/refused the credentials: Invalid API key/);
    const open = pier(["docker-proxy", "--env", String(environmentId), "--listen", "tcp://0.0.0.0:2375", "--api-key-file", dir.file("api-key")]);
    expect(open.status).toBe(2);
    expect(open.stderr).toMatch(/only loopback addresses/);
  });

  it("logs in with a username and password file, on a loopback TCP port", async () => {
    await using byPassword = await startPierDockerProxy(["--env", String(environmentId), "--listen", "tcp://127.0.0.1:0", "--url", `https://localhost:${server.httpsPort}`, "--ca", dir.file("data/ca/ca.crt"), "--username", "admin", "--password-file", dir.file("admin-password")]);
    expect(byPassword.dockerHost).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(docker(["ps", "--format", "{{.Names}}"], { DOCKER_HOST: byPassword.dockerHost }, cliTimeoutMs)).toContain(`${tag}-outside`);
  });

  it("keeps working after the agent reconnects", async () => {
    await agent.stop();
    const offline = await until("the server to see the device offline", () => {
      const ps = runViaPier(["ps"]);
      return Promise.resolve(ps.status !== 0 && /is offline: last check-in/.test(ps.stderr) ? ps : undefined);
    });
    expect(offline.stderr).toMatch(/Error response from daemon: Environment \d+ \("[^"]+"\) is offline/);
    agent = startPierAgent({ edgeId: "edge-cli", edgeKey: server.edgeKey, dataDir: dir.file("agent") });
    await agent.waitFor(/as environment \d+: associated/);
    expect(viaPier(["exec", `${tag}-outside`, "echo", "back"])).toBe("back");
  });
});
