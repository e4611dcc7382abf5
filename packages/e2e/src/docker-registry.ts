import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { docker, testImage } from "./docker-cli.ts";
import { freeLoopbackPort } from "./free-loopback-port.ts";
import { run } from "./run.ts";
import { until } from "./until.ts";

/** A user of a registry with authentication. */
export interface RegistryUser {
  readonly username: string;
  readonly password: string;
}

/** A local image registry (Debian's docker-registry) on loopback. */
export interface DockerRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT`: Docker treats loopback registries as plain HTTP without configuration. */
  readonly address: string;
  /** The user pulls and pushes need, when started with `auth`. */
  readonly user?: RegistryUser;
  /**
   * Tags the local image `image` (default `pier-test/busybox:latest`) as `ADDRESS/repository`,
   * pushes it (logged in as `user` in a Docker config directory of its own, never the machine's
   * `~/.docker`), removes the local tag, and returns the pushed reference.
   */
  push(repository: string, image?: string, env?: NodeJS.ProcessEnv): string;
}

/** Options of `startDockerRegistry`. */
export interface DockerRegistryOptions {
  /** Basic authentication (htpasswd, bcrypt, made with `htpasswd -B`): every request needs this user. */
  readonly auth?: RegistryUser;
}

/**
 * Starts `docker-registry serve` (installed by scripts/ensure-docker.sh) with its storage in
 * `dir`, so tests can push an image and pull it through Pier: no registry of the internet is
 * reachable here. With `auth`, the registry asks for that user on every request (an anonymous
 * `GET /v2/` answers 401), as a private registry does.
 *
 * @example
 * await using registry = await startDockerRegistry(dir.file("registry"), { auth: { username: "ci", password } });
 * const image = registry.push("pier-e2e/busybox:1");
 */
export async function startDockerRegistry(dir: string, options: DockerRegistryOptions = {}): Promise<DockerRegistry> {
  mkdirSync(dir, { recursive: true });
  const port = await freeLoopbackPort();
  const config = join(dir, "config.yml");
  let auth = "";
  if (options.auth) {
    const htpasswd = run("htpasswd", ["-Bbn", options.auth.username, options.auth.password]);
    if (htpasswd.status !== 0) throw new Error(`htpasswd failed (${htpasswd.status}; apache2-utils, installed by scripts/ensure-docker.sh):\n${htpasswd.output}`);
    writeFileSync(join(dir, "htpasswd"), htpasswd.stdout, { mode: 0o600 });
    auth = `auth:\n  htpasswd:\n    realm: pier-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  // Answers 200 when open, 401 with a challenge when authentication is on: either means it serves.
  const ready = options.auth ? 401 : 200;
  try {
    await until("the registry to answer", async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}):\n${output}`);
      const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      return res?.status === ready ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const address = `127.0.0.1:${port}`;
  const dockerConfig = join(dir, "docker-config");
  const push = (repository: string, image = `${testImage}:latest`, env: NodeJS.ProcessEnv = {}): string => {
    const reference = `${address}/${repository}`;
    mkdirSync(dockerConfig, { recursive: true, mode: 0o700 });
    const withConfig = { ...env, DOCKER_CONFIG: dockerConfig };
    if (options.auth) {
      const login = run("docker", ["login", "--username", options.auth.username, "--password-stdin", address], { env: withConfig, input: options.auth.password, timeoutMs: 60_000 });
      if (login.status !== 0) throw new Error(`docker login ${address} failed (${login.status}):\n${login.output}`);
    }
    docker(["tag", image, reference], withConfig);
    try {
      docker(["push", reference], withConfig, 120_000);
    } finally {
      run("docker", ["rmi", reference], { env: withConfig });
    }
    return reference;
  };
  return { address, ...(options.auth ? { user: options.auth } : {}), push, [Symbol.asyncDispose]: stop };
}
