import { spawn, type ChildProcess } from "node:child_process";
import { dirname } from "node:path";
import { pierBinary } from "./run.ts";

/** A running `pier` process with its output captured. */
export interface PierProcess extends AsyncDisposable {
  readonly process: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (waiting for it), or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

function launch(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; command?: readonly string[] }): PierProcess {
  const [file = pierBinary, ...prefix] = options.command ?? [];
  const child = spawn(file, [...prefix, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  const label = args[0] === undefined ? (options.command ?? []).join(" ") : `pier ${args[0]}`;
  let text = "";
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const wake of waiters) wake();
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => {
    for (const wake of waiters) wake();
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  return {
    process: child,
    output: () => text,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`${label} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${label}:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A running `pier server`, with what its start-up lines say. */
export interface PierServer extends PierProcess {
  readonly httpsPort: number;
  readonly tunnelPort: number;
  /** The fleet-wide EDGE_KEY the server printed (devices land in the waiting room). */
  readonly edgeKey: string;
}

/**
 * Starts `pier server` on loopback with ephemeral ports and waits until it listens; `command`
 * replaces the installed `pier` (e.g. `[node, "dist/pier/main.cjs"]` for the bundle).
 *
 * @example
 * await using server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", pw] });
 */
export async function startPierServer(options: {
  dataDir: string;
  args?: readonly string[];
  cwd?: string;
  httpsPort?: number;
  tunnelPort?: number;
  command?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the listeners (default 30 s; replicas starting together wait for each other's lock). */
  startTimeoutMs?: number;
  /** The address both listeners bind (default 127.0.0.1; `0.0.0.0` for agents in network namespaces, chaos/network-host.ts). */
  host?: string;
}): Promise<PierServer> {
  const host = options.host ?? "127.0.0.1";
  const args = ["server", "--bind", `${host}:${options.httpsPort ?? 0}`, "--tunnel-port", String(options.tunnelPort ?? 0), "--data", options.dataDir, ...(options.args ?? [])];
  const server = launch(args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.command === undefined ? {} : { command: options.command }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  try {
    const [, https = "", tunnel = ""] = await server.waitFor(new RegExp(`HTTPS ${host.replaceAll(".", "\\.")}:(\\d+) .* edge tunnel ${host.replaceAll(".", "\\.")}:(\\d+)`), options.startTimeoutMs ?? 30_000);
    const [, edgeKey = ""] = await server.waitFor(/EDGE_KEY=(\S+)/);
    return { ...server, httpsPort: Number(https), tunnelPort: Number(tunnel), edgeKey };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * Starts `pier agent` with the seeds' environment variables and flags; `command` replaces the
 * installed `pier` (e.g. `[node, "--lite-mode", "dist/pier/main.cjs"]` for the bundle).
 */
export function startPierAgent(options: { edgeId: string; edgeKey: string; dataDir: string; args?: readonly string[]; env?: NodeJS.ProcessEnv; command?: readonly string[] }): PierProcess {
  return launch(["agent", "--data", options.dataDir, ...(options.args ?? [])], {
    ...(options.command === undefined ? {} : { command: options.command }),
    env: { EDGE: "1", EDGE_ID: options.edgeId, EDGE_KEY: options.edgeKey, EDGE_INSECURE_POLL: "0", ...options.env },
  });
}

/**
 * Runs a shell command line as a user would paste it (the UI's generated agent command), with
 * the installed `pier` first on PATH, and captures it like a `pier` process.
 *
 * @example
 * await using agent = startShellCommand(commandFromTheUi, { cwd: dir.path });
 */
export function startShellCommand(commandLine: string, options: { cwd: string; env?: NodeJS.ProcessEnv }): PierProcess {
  return launch([], { cwd: options.cwd, command: ["bash", "-c", commandLine], env: { ...options.env, PATH: `${dirname(pierBinary)}:${process.env.PATH ?? ""}` } });
}

/** A running `pier docker-proxy`. */
export interface PierDockerProxy extends PierProcess {
  /** The `DOCKER_HOST` it printed. */
  readonly dockerHost: string;
}

/**
 * Starts `pier docker-proxy ARGS…` and waits for the `DOCKER_HOST=` line it prints when it
 * listens; rejects with its output when it exits first (a refused start).
 *
 * @example
 * await using proxy = await startPierDockerProxy(["--env", "3", "--listen", `unix://${sock}`, "--url", url, "--ca", ca, "--api-key-file", key]);
 * docker(["ps"], { DOCKER_HOST: proxy.dockerHost });
 */
export async function startPierDockerProxy(args: readonly string[]): Promise<PierDockerProxy> {
  const proxy = launch(["docker-proxy", ...args], {});
  try {
    const [, dockerHost = ""] = await proxy.waitFor(/^DOCKER_HOST=(\S+)$/m);
    return { ...proxy, dockerHost };
  } catch (error) {
    await proxy.stop();
    throw error;
  }
}
