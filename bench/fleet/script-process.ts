import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A helper server of a benchmark (a bare Node floor server…) run as a child process that prints
 * "listening" once it accepts connections and ends on SIGTERM.
 *
 * @example
 * const bare = await ScriptProcess.start({ name: "bare-edge-server.ts", command: process.execPath, args: [script, port], env: process.env, signal });
 * await bare.stop();
 */
export class ScriptProcess {
  readonly #name: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";

  private constructor(name: string, child: ChildProcess) {
    this.#name = name;
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const keep = (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-16 * 1024));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Spawns `command args` and resolves once it printed "listening"; rejects with its output if it exits or stays silent 30 s. */
  static async start(options: { readonly name: string; readonly command: string; readonly args: readonly string[]; readonly env: NodeJS.ProcessEnv; readonly signal: AbortSignal; readonly onSpawn?: (process: ScriptProcess) => void }): Promise<ScriptProcess> {
    const child = spawn(options.command, options.args, { env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    const started = new ScriptProcess(options.name, child);
    options.onSpawn?.(started);
    for (let waited = 0; !started.#output.includes("listening"); waited += 50) {
      options.signal.throwIfAborted();
      if (!started.running || waited > 30_000) throw new Error(`${options.name} did not start (${child.exitCode ?? child.signalCode ?? "no answer in 30 s"}):\n${started.#output}`);
      await sleep(50);
    }
    return started;
  }

  get pid(): number {
    if (this.#child.pid === undefined) throw new Error(`${this.#name} has no pid`);
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  signal(name: NodeJS.Signals): void {
    if (this.running) this.#child.kill(name);
  }

  /** SIGTERM (a --cpu-prof profile is written), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Last resort from an `exit` handler: synchronous, no grace. */
  killNow(): void {
    if (this.running) this.#child.kill("SIGKILL");
  }
}
