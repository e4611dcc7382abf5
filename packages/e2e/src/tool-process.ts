import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";

/** A helper program a test runs (HAProxy, Prometheus): its output so far, and a stop that removes its directory. */
export interface ToolProcess {
  readonly child: ChildProcess;
  /** Whether it has exited (or was killed by a signal), and how. */
  readonly exitStatus: () => string | undefined;
  readonly output: () => string;
  /** SIGTERM, SIGKILL after 5 s, then removes `dir`. */
  readonly stop: () => Promise<void>;
}

/**
 * Spawns `binary` with `args`, collecting stdout and stderr; `dir` (its configuration and data)
 * is removed when it is stopped.
 *
 * @example
 * const tool = spawnTool(haproxyBinary, ["-db", "-f", configPath], dir);
 */
export function spawnTool(binary: string, args: readonly string[], dir: string): ToolProcess {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    exitStatus: () => (child.exitCode !== null ? String(child.exitCode) : (child.signalCode ?? undefined)),
    output: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
