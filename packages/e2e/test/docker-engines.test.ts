import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker, dockerEngineClaimsDir, loadImages, removeStaleDockerEngines, run, startDockerEngines, tempDir, testImage, until, type DockerEngines, type TempDir } from "../src/index.ts";

/**
 * The several-engines fixture itself: two extra dockerd on one machine, each with its own data,
 * socket and bridge, isolated from each other and from the main engine, and gone after stop
 * without harm to the main engine's docker0.
 */
const suffix = `${process.pid}-${Date.now().toString(36)}`;
let dir: TempDir;
let set: DockerEngines;
let startMs = 0;

const bridges = () => [...run("ip", ["-o", "link", "show", "type", "bridge"]).stdout.matchAll(/^\d+:\s+([\w-]+)[:@]/gm)].map((m) => m[1]);

beforeAll(async () => {
  dir = tempDir("engines");
  const started = Date.now();
  set = await startDockerEngines(2, dir.file("engines"));
  startMs = Date.now() - started;
});

afterAll(async () => {
  await set.stop();
  await dir[Symbol.asyncDispose]();
});

describe("several Docker engines on one machine", () => {
  it("starts two engines with their own bridge, data root and socket", () => {
    console.log(`two engines started in parallel in ${startMs} ms`);
    const [one, two] = set.engines;
    expect(one && two).toBeTruthy();
    expect(one!.host).not.toBe(two!.host);
    expect(one!.bridge).toMatch(/^pierbr\d+$/);
    expect(bridges()).toEqual(expect.arrayContaining([one!.bridge, two!.bridge, "docker0"]));
    const roots = set.engines.map((engine) => docker(["info", "-f", "{{.DockerRootDir}}"], engine.env));
    expect(roots[0]).toContain(dir.path);
    expect(roots[1]).toContain(dir.path);
    expect(roots[0]).not.toBe(roots[1]);
    expect(docker(["info", "-f", "{{.DockerRootDir}}"])).not.toContain(dir.path);
  });

  it("isolates them: a container on one is listed neither on the other nor on the main engine", () => {
    const [one, two] = set.engines;
    loadImages(one!, [testImage]);
    loadImages(two!, [testImage]);
    const name = `pier-engines-${suffix}`;
    docker(["run", "-d", "--name", name, testImage, "sleep", "300"], one!.env);
    expect(docker(["ps", "--format", "{{.Names}}"], one!.env).split("\n")).toContain(name);
    expect(docker(["ps", "-a", "--format", "{{.Names}}"], two!.env).split("\n")).not.toContain(name);
    expect(docker(["ps", "-a", "--format", "{{.Names}}"]).split("\n")).not.toContain(name);
    // Its address is on the engine's own bridge subnet.
    const address = docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name], one!.env);
    expect(`${address.split(".").slice(0, 3).join(".")}.0/24`).toBe(one!.subnet);
  });

  it("stops them: bridges, directories and claims gone, the main engine's docker0 and containers fine", async () => {
    const [one] = set.engines;
    const root = one!.host.replace("unix://", "").replace("/docker.sock", "");
    expect(existsSync(root)).toBe(true);
    const started = Date.now();
    await set.stop();
    console.log(`two engines (one with a running container) stopped in ${Date.now() - started} ms`);
    expect(existsSync(root)).toBe(false);
    for (const engine of set.engines) {
      expect(bridges()).not.toContain(engine.bridge);
      expect(existsSync(join(dockerEngineClaimsDir, `${engine.bridge}.json`))).toBe(false);
    }
    expect(bridges()).toContain("docker0");
    expect(docker(["run", "--rm", testImage, "echo", "main engine fine"])).toBe("main engine fine");
  });

  it("removes the engine of a run that was killed, and only that one", async () => {
    // A child process starts an engine and is killed: its dockerd, bridge and directory stay.
    const script = `import { startDockerEngines } from ${JSON.stringify(join(import.meta.dirname, "..", "src", "docker-engines.ts"))};
const set = await startDockerEngines(1, ${JSON.stringify(dir.file("killed"))});
console.log("UP " + set.engines[0].bridge + " " + set.engines[0].host);
setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [, bridge = "", host = ""] = await until("the child's engine", () => Promise.resolve(/UP (\S+) (\S+)/.exec(output) ?? undefined), 60_000);
    const claim = JSON.parse(readFileSync(join(dockerEngineClaimsDir, `${bridge}.json`), "utf8")) as { owner: number; dockerd: number };
    expect(claim.owner).toBe(child.pid);
    // Another run starting while the child lives leaves the child's engine alone.
    await using live = await startDockerEngines(1, dir.file("live"));
    expect(live.engines[0]!.bridge).not.toBe(bridge);
    expect(bridges()).toContain(bridge);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    // Precondition: the killed run left its engine running.
    expect(docker(["version", "-f", "{{.Server.Version}}"], { DOCKER_HOST: host })).toMatch(/^\d+\./);
    expect(bridges()).toContain(bridge);
    removeStaleDockerEngines();
    expect(bridges()).not.toContain(bridge);
    expect(existsSync(join(dockerEngineClaimsDir, `${bridge}.json`))).toBe(false);
    expect(existsSync(host.replace("unix://", ""))).toBe(false);
    await until("the killed run's dockerd to be gone", () => Promise.resolve(!existsSync(`/proc/${claim.dockerd}`) || readFileSync(`/proc/${claim.dockerd}/stat`, "utf8").includes(") Z")));
    expect(bridges()).toContain(live.engines[0]!.bridge);
    expect(docker(["version", "-f", "{{.Server.Version}}"], live.engines[0]!.env)).toMatch(/^\d+\./);
  });
});
