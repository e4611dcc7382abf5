import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { httpsJson } from "./pier-admin.ts";

/** What to start `pier server` with. */
export interface ServerProcessOptions {
  readonly repoRoot: string;
  readonly dataDir: string;
  readonly adminPasswordFile: string;
  /** Operator mTLS files; absent, the tunnel listener uses the built-in CA (`DATA/ca`). */
  readonly mtls?: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string };
  /** More `pier server` flags (e.g. `--renewal-rate 50`). */
  readonly extraArgs?: readonly string[];
  /** More environment variables for the server. */
  readonly env?: Readonly<Record<string, string>>;
  /** NODE_OPTIONS for the server only (e.g. `--cpu-prof --cpu-prof-dir=DIR`). */
  readonly nodeOptions?: string;
  /** Raise the server's soft limit on open files to its hard limit (one file per session). */
  readonly raiseOpenFileLimit?: boolean;
  /** Listen on these ports rather than free ones picked at spawn (a restart keeps its ports). */
  readonly ports?: { readonly https: number; readonly tunnel: number };
}

/** A process's soft limit on open files, from /proc (undefined when unreadable). */
export function openFileLimitOf(pid: number): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return line?.[1] === undefined ? undefined : Number(line[1]);
  } catch {
    return undefined;
  }
}

/** The command that runs `command args` with its open-file soft limit raised to the hard limit. */
export function withOpenFileLimitRaised(command: string, args: readonly string[]): [string, string[]] {
  return ["bash", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', command, ...args]];
}

/** CPU time and memory of a process, from /proc. */
export interface ProcessSample {
  /** utime + stime, seconds. */
  readonly cpuSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** Per thread name (comm), utime + stime, seconds; the main thread is "main". */
  readonly threadSeconds: ReadonlyMap<string, number>;
  /** VmHWM: peak resident set since start, bytes. */
  readonly peakRssBytes: number;
  /** VmRSS now, bytes. */
  readonly rssBytes: number;
}

/** Kernel clock ticks per second (getconf CLK_TCK): the unit of CPU times in /proc. */
export const clockTicks = (() => {
  const answer = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(answer.stdout.trim());
  return answer.status === 0 && ticks > 0 ? ticks : 100;
})();

/** utime and stime (seconds) and the command name of a process or thread, from its `stat` file. */
function readStat(path: string): { name: string; user: number; system: number } {
  const stat = readFileSync(path, "utf8");
  // Fields after the command name, which may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5), i.e. 11 and 12 after the state field (3).
  return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
}

/** Reads CPU time (/proc/PID/stat, per thread from task/) and VmHWM/VmRSS (/proc/PID/status) of `pid`. */
export function sampleProcess(pid: number): ProcessSample {
  const total = readStat(`/proc/${pid}/stat`);
  const threadSeconds = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let thread;
    try {
      thread = readStat(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = tid === String(pid) ? "main" : thread.name;
    threadSeconds.set(name, (threadSeconds.get(name) ?? 0) + thread.user + thread.system);
  }
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: total.user + total.system, userSeconds: total.user, systemSeconds: total.system, threadSeconds, peakRssBytes: kib("VmHWM"), rssBytes: kib("VmRSS") };
}

/** `after − before` per thread name, largest first (threads that ended in between are left out). */
export function threadDelta(before: ProcessSample, after: ProcessSample): [string, number][] {
  return [...after.threadSeconds].map(([name, seconds]): [string, number] => [name, seconds - (before.threadSeconds.get(name) ?? 0)]).sort((a, b) => b[1] - a[1]);
}

/** Free loopback ports, picked by binding port 0 and letting go (the server binds them next). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

/**
 * A `pier server` child on 127.0.0.1 at `--log-level warn` (so per-session info lines do not
 * count as server work), on ports picked here since the listening line is info-level.
 *
 * @example
 * const server = await ServerProcess.spawn(options);
 * await server.ready(30_000, signal);
 * sampleProcess(server.pid);
 * await server.stop();
 */
export class ServerProcess {
  readonly httpsPort: number;
  readonly tunnelPort: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #dataDir: string;
  readonly #options: ServerProcessOptions;
  #output = "";
  #spawnError: Error | undefined;

  private constructor(child: ChildProcess, httpsPort: number, tunnelPort: number, options: ServerProcessOptions) {
    this.#child = child;
    this.#options = options;
    this.#dataDir = options.dataDir;
    this.httpsPort = httpsPort;
    this.tunnelPort = tunnelPort;
    this.#exited = new Promise((resolve) => {
      child.once("exit", () => resolve());
      // Spawning itself failed (no bin/pier: run npm ci): there will be no exit event.
      child.once("error", (error) => {
        this.#spawnError = error;
        this.#output += `\ncannot run bin/pier: ${error.message}`;
        resolve();
      });
    });
    const keep = (chunk: Buffer) => {
      // The tail is enough to explain a failure; a warn storm must not eat memory.
      this.#output = (this.#output + chunk.toString()).slice(-64 * 1024);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Spawns the server; `ready()` then waits until its API answers. */
  static async spawn(options: ServerProcessOptions): Promise<ServerProcess> {
    const [httpsPort = 0, tunnelPort = 0] = options.ports ? [options.ports.https, options.ports.tunnel] : await freePorts(2);
    const args = [
      "server",
      "--bind", `127.0.0.1:${httpsPort}`,
      "--tunnel-port", String(tunnelPort),
      "--data", options.dataDir,
      "--admin-password-file", options.adminPasswordFile,
      ...(options.mtls ? ["--mtlscacert", options.mtls.caCertificate, "--mtlscert", options.mtls.serverCertificate, "--mtlskey", options.mtls.serverKey] : []),
      "--log-level", "warn",
      ...(options.extraArgs ?? []),
    ];
    const env = { ...process.env, ...options.env };
    if (options.nodeOptions) env["NODE_OPTIONS"] = options.nodeOptions;
    else delete env["NODE_OPTIONS"];
    // bin/pier execs node, so the child's pid is the server's own (what /proc is read for).
    const pier = join(options.repoRoot, "node_modules", ".bin", "pier");
    // bash execs bin/pier in place, so the pid stays the server's.
    const [command, commandArgs] = options.raiseOpenFileLimit ? withOpenFileLimitRaised(pier, args) : [pier, args];
    const child = spawn(command, commandArgs, { cwd: options.repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    return new ServerProcess(child, httpsPort, tunnelPort, options);
  }

  /**
   * Starts another server with the same options, data and ports, once this one has exited
   * (kill it first): a restart, as systemd or Docker would do it. `ready()` it as any other.
   */
  async restart(): Promise<ServerProcess> {
    await this.#exited;
    return ServerProcess.spawn({ ...this.#options, ports: { https: this.httpsPort, tunnel: this.tunnelPort } });
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  /** The soft limit on open files of the running server (/proc/PID/limits), undefined if unreadable. */
  openFileLimit(): number | undefined {
    return openFileLimitOf(this.pid);
  }

  get pid(): number {
    if (this.#child.pid === undefined) throw new Error("pier server has no pid (spawn failed)");
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#spawnError === undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last 64 KiB the server printed. */
  output(): string {
    return this.#output;
  }

  /** SIGTERM (the server closes sessions and flushes check-ins), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Sends `name` to the server while it runs (e.g. SIGUSR2 to a probe loaded into it). */
  signal(name: NodeJS.Signals): void {
    if (this.running) this.#child.kill(name);
  }

  /** Last resort from an `exit` handler: synchronous, no grace. */
  killNow(): void {
    if (this.running) this.#child.kill("SIGKILL");
  }

  /** Resolves once the API answers; rejects with the server's output when it exits or stays silent. */
  async ready(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "no answer yet";
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      if (!this.running) throw new Error(`pier server exited (${this.#child.exitCode ?? this.#child.signalCode}) during start:\n${this.#output}`);
      try {
        // The built-in CA (trusted by the UI/API listener) exists once the server got that far.
        const ca = readFileSync(join(this.#dataDir, "ca", "ca.crt"));
        const answer = await httpsJson({ port: this.httpsPort, ca, method: "GET", path: "/api/system/status" });
        if (answer.status === 200) return;
        lastError = `GET /api/system/status answered ${answer.status}`;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
      await sleep(100, undefined, { signal });
    }
    throw new Error(`pier server did not answer within ${timeoutMs / 1000} s (${lastError}):\n${this.#output}`);
  }
}
