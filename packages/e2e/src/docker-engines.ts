import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { docker } from "./docker-cli.ts";
import { run } from "./run.ts";

/** One extra Docker engine started for a test: its own dockerd, data, bridge and socket. */
export interface DockerEngine {
  /** `pier-engine-<bridge>`: names the engine in messages. */
  readonly name: string;
  /** `unix:///…/docker.sock`, for `DOCKER_HOST`. */
  readonly host: string;
  /** The Linux bridge its containers attach to (`pierbrN`), made for this engine alone. */
  readonly bridge: string;
  /** The bridge's subnet (`10.213.N.0/24`); the bridge holds `.1`. */
  readonly subnet: string;
  /** `{DOCKER_HOST}` for `docker(args, engine.env)` and agent processes. */
  readonly env: { readonly DOCKER_HOST: string };
  /** Stops dockerd (its containers with it) and removes its bridge and directories. */
  stop(): Promise<void>;
}

/** Engines started together, stopped together (`await using engines = await startDockerEngines(2, dir)`). */
export interface DockerEngines extends AsyncDisposable {
  readonly engines: readonly DockerEngine[];
  stop(): Promise<void>;
}

/**
 * Claims of the engines running on this machine, one file per bridge naming the process that
 * owns it: a later run removes the engines of an owner that died (a killed test run) and only
 * those, since several test runs may share the machine.
 */
const claimsDir = join(tmpdir(), "pier-docker-engines");

interface EngineClaim {
  readonly owner: number;
  readonly dir: string;
  dockerd?: number;
}

const startTimeoutMs = 60_000;
const stopTimeoutMs = 20_000;

/**
 * Starts `count` extra Docker engines in parallel, as PRODUCT.md "Several Docker engines on one
 * machine" says: each `dockerd` with its own `--data-root`, `--exec-root`, `--pidfile`,
 * `--host unix://…` and a bridge of its own (`pierbrN`, `10.213.N.1/24`), `--iptables=false
 * --ip-masq=false`. Never `--bridge none`: that deletes the main engine's `docker0`. Leftovers of
 * an earlier run that was killed are removed first. A start that fails stops the engines already
 * up and throws with the failing engine's log tail.
 *
 * @example
 * await using set = await startDockerEngines(2, dir.file("engines"));
 * const [one] = set.engines;
 * await loadImages(one!, [testImage]);
 * docker(["run", "--rm", testImage, "true"], one!.env);
 */
export async function startDockerEngines(count: number, dir: string): Promise<DockerEngines> {
  removeStaleDockerEngines();
  mkdirSync(dir, { recursive: true });
  const claimed: { bridge: string; index: number }[] = [];
  try {
    for (let i = 0; i < count; i++) claimed.push(claimBridge(dir));
  } catch (error) {
    for (const { bridge } of claimed) releaseEngine(bridge);
    throw error;
  }
  const results = await Promise.allSettled(claimed.map(({ bridge, index }) => startEngine(bridge, index, join(dir, bridge))));
  const engines = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await Promise.all(engines.map((engine) => engine.stop()));
    for (const { bridge } of claimed) releaseEngine(bridge);
    throw failure.reason;
  }
  const stop = async () => {
    await Promise.all(engines.map((engine) => engine.stop()));
  };
  return { engines, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Copies images from the main engine into `engine` (`docker save | docker load`). The saved
 * tarball is kept beside the engines (one per image set and content), so loading the same images
 * into several engines saves them once.
 */
export function loadImages(engine: DockerEngine, images: readonly string[]): void {
  const ids = images.map((image) => docker(["image", "inspect", "-f", "{{.Id}}", image]));
  const key = createHash("sha256").update(images.join("\n")).update(ids.join("\n")).digest("hex").slice(0, 16);
  const root = engineRoot(engine);
  const tarball = join(root, "..", `images-${key}.tar`);
  if (!existsSync(tarball)) {
    const partial = `${tarball}.${process.pid}.partial`;
    docker(["save", "-o", partial, ...images], {}, 120_000);
    renameSync(partial, tarball);
  }
  docker(["load", "-q", "-i", tarball], engine.env, 120_000);
}

/**
 * Removes what killed runs left: for each claim whose owner process is gone, its dockerd,
 * containerd, shims and container processes, mounts, directories and bridge; and any `pierbr*`
 * bridge no claim names. Engines of live owners (another test run) are left alone.
 */
export function removeStaleDockerEngines(): void {
  mkdirSync(claimsDir, { recursive: true });
  for (const file of readdirSync(claimsDir)) {
    if (!/^pierbr\d+\.json$/.test(file)) continue;
    const bridge = file.slice(0, -".json".length);
    // An unreadable claim is being written, unless it is old.
    const claim = readClaim(bridge) ?? (ageMs(claimPath(bridge)) > 10_000 ? { owner: 0, dir: "" } : undefined);
    if (!claim || (claim.owner !== 0 && isAlive(claim.owner))) continue;
    killEngineProcesses(bridge, claim.dir);
    if (claim.dir !== "") removeEngineDir(join(claim.dir, bridge));
    releaseEngine(bridge);
  }
  for (const bridge of listBridges()) if (!existsSync(claimPath(bridge))) deleteBridge(bridge);
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function engineRoot(engine: DockerEngine): string {
  return engine.host.replace(/^unix:\/\//, "").replace(/\/docker\.sock$/, "");
}

function claimPath(bridge: string): string {
  return join(claimsDir, `${bridge}.json`);
}

function readClaim(bridge: string): EngineClaim | undefined {
  try {
    return JSON.parse(readFileSync(claimPath(bridge), "utf8")) as EngineClaim;
  } catch {
    return undefined;
  }
}

/** Claims the lowest free `pierbrN` (N in 1…250) with an exclusive file, then creates the bridge. */
function claimBridge(dir: string): { bridge: string; index: number } {
  const addresses = run("ip", ["-o", "addr", "show"], { timeoutMs: 10_000 }).stdout;
  for (let index = 1; index <= 250; index++) {
    const bridge = `pierbr${index}`;
    // A subnet some other interface already holds is skipped (another tool's network).
    if (addresses.includes(` 10.213.${index}.`) && !listBridges().includes(bridge)) continue;
    try {
      writeFileSync(claimPath(bridge), JSON.stringify({ owner: process.pid, dir } satisfies EngineClaim), { flag: "wx" });
    } catch {
      continue;
    }
    // A bridge left without its claim (a run killed between the two steps) is taken over.
    if (listBridges().includes(bridge)) deleteBridge(bridge);
    ip(["link", "add", bridge, "type", "bridge"]);
    ip(["addr", "add", `10.213.${index}.1/24`, "dev", bridge]);
    ip(["link", "set", bridge, "up"]);
    return { bridge, index };
  }
  throw new Error(`no free bridge name pierbr1…pierbr250: see ${claimsDir} for the engines claimed and by which process`);
}

function releaseEngine(bridge: string): void {
  deleteBridge(bridge);
  rmSync(claimPath(bridge), { force: true });
}

async function startEngine(bridge: string, index: number, root: string): Promise<DockerEngine> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const socket = join(root, "docker.sock");
  // Kept beside the engine (its directory is removed on stop) for a failed test to be read.
  const logFile = join(root, "..", `${bridge}-dockerd.log`);
  const config = join(root, "daemon.json");
  // An empty configuration: a daemon.json of the main engine's must not apply here.
  writeFileSync(config, "{}\n");
  const args = [
    `--config-file=${config}`,
    `--data-root=${join(root, "data")}`,
    `--exec-root=${join(root, "exec")}`,
    `--pidfile=${join(root, "dockerd.pid")}`,
    `--host=unix://${socket}`,
    `--bridge=${bridge}`,
    "--iptables=false",
    "--ip-masq=false",
    // Container processes of this engine in a cgroup of their own, so a killed run's are found.
    `--cgroup-parent=/pier-engine-${bridge}`,
    // Stop containers after 1 s on shutdown (busybox `sleep` as PID 1 ignores SIGTERM).
    "--shutdown-timeout=1",
  ];
  let log = "";
  const child: ChildProcess = spawn("dockerd", args, { stdio: ["ignore", "pipe", "pipe"] });
  const append = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const claim = readClaim(bridge);
  if (claim && child.pid !== undefined) writeFileSync(claimPath(bridge), JSON.stringify({ ...claim, dockerd: child.pid }));
  const name = `pier-engine-${bridge}`;
  const host = `unix://${socket}`;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // The Linux bridges of its networks (`br-<id>`): dockerd leaves them in the host's namespace,
      // holding their subnets, and the main engine's swarm then failed to reach its containers.
      const networkBridges = child.exitCode === null && child.signalCode === null ? bridgesOfNetworks(host) : [];
      if (child.exitCode === null && child.signalCode === null) {
        // Containers are killed first: dockerd would give each its own stop timeout (10 s).
        killEngineProcesses(bridge, "");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
        await exited;
        clearTimeout(timer);
      }
      writeFileSync(logFile, log);
      for (const networkBridge of networkBridges) spawnSync("ip", ["link", "del", networkBridge], { timeout: 10_000 });
      killEngineProcesses(bridge, join(root, ".."));
      removeEngineDir(root);
      releaseEngine(bridge);
    })());
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (await ping(socket)) break;
    const failed = spawnError ?? (child.exitCode !== null || child.signalCode !== null ? new Error(`exited (${child.exitCode ?? child.signalCode})`) : undefined);
    if (failed || Date.now() > deadline) {
      const reason = failed ? failed.message : `did not answer /_ping within ${startTimeoutMs / 1000} s`;
      await stop();
      throw new Error(`Docker engine ${name} (dockerd ${args.join(" ")}) ${reason}. Last lines of its log:\n${log.split("\n").slice(-25).join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { name, host, bridge, subnet: `10.213.${index}.0/24`, env: { DOCKER_HOST: host }, stop };
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * SIGKILLs what an engine left running: processes in its containers' cgroup and, unless `dir` is
 * empty, those whose command line names its directory (dockerd, containerd, shims).
 */
/** The Linux bridge names (`br-` and the first 12 characters of the id) of an engine's bridge networks. */
function bridgesOfNetworks(host: string): string[] {
  const listed = spawnSync("docker", ["-H", host, "network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge"], { encoding: "utf8", timeout: 10_000 });
  return listed.status === 0 ? listed.stdout.split("\n").filter(Boolean).map((id) => `br-${id.slice(0, 12)}`) : [];
}

function killEngineProcesses(bridge: string, dir: string): void {
  const root = dir === "" ? undefined : join(dir, bridge);
  const cgroup = `/pier-engine-${bridge}/`;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let matches: boolean;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      matches = (root !== undefined && cmdline.includes(root)) || readFileSync(`/proc/${entry}/cgroup`, "utf8").includes(cgroup);
    } catch {
      continue;
    }
    if (matches) {
      try {
        process.kill(Number(entry), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/** Unmounts what the engine left mounted under `root` (deepest first), then removes it. */
function removeEngineDir(root: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .filter((point) => point === root || point.startsWith(`${root}/`));
  } catch {
    // no /proc/mounts: nothing to unmount
  }
  for (const point of mounts.sort((a, b) => b.length - a.length)) run("umount", ["-l", point], { timeoutMs: 10_000 });
  for (let attempt = 0; ; attempt++) {
    try {
      rmSync(root, { recursive: true, force: true });
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

function listBridges(): string[] {
  const result = run("ip", ["-o", "link", "show", "type", "bridge"], { timeoutMs: 10_000 });
  return [...result.stdout.matchAll(/^\d+:\s+(pierbr\d+)[:@]/gm)].map((m) => m[1] ?? "");
}

function deleteBridge(bridge: string): void {
  run("ip", ["link", "del", bridge], { timeoutMs: 10_000 });
}

function ip(args: readonly string[]): void {
  const result = run("ip", args, { timeoutMs: 10_000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")} failed (${result.status}): ${result.output}`);
}

/** Where the claims live (`<tmp>/pier-docker-engines/pierbrN.json`), for the fixture's own test. */
export const dockerEngineClaimsDir = claimsDir;
