import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freeLoopbackPort } from "./free-loopback-port.ts";
import { until } from "./until.ts";

/** A local image registry (Debian's docker-registry) on loopback. */
export interface DockerRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT`: Docker treats loopback registries as plain HTTP without configuration. */
  readonly address: string;
}

/**
 * Starts `docker-registry serve` (installed by scripts/ensure-docker.sh) with its storage in
 * `dir`, so tests can push an image and pull it through Pier: no registry of the internet is
 * reachable here.
 *
 * @example
 * await using registry = await startDockerRegistry(dir.file("registry"));
 * docker(["push", `${registry.address}/pier-test/busybox:1`]);
 */
export async function startDockerRegistry(dir: string): Promise<DockerRegistry> {
  mkdirSync(dir, { recursive: true });
  const port = await freeLoopbackPort();
  const config = join(dir, "config.yml");
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  try {
    await until("the registry to answer", async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}):\n${output}`);
      const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { address: `127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}
