import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerProcess } from "./server-process.ts";

/** A server's event-loop delay over one phase (bench/fleet/loop-delay-probe.ts). */
export interface LoopDelay {
  /** Whole intervals between the probe's ticks, as `monitorEventLoopDelay` reports them. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly count: number;
  /** The probe's tick; the interval minus it is how late the loop was. */
  readonly resolutionMs: number;
  /** The phase's garbage-collection pauses on the main thread (absent from an older probe). */
  readonly gc?: { readonly count: number; readonly totalMs: number; readonly maxMs: number; readonly majorCount: number; readonly majorMaxMs: number };
  /** `process.memoryUsage()` at the phase's end, bytes (absent from an older probe). */
  readonly memory?: { readonly rss: number; readonly heapTotal: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number };
}

/** How late the server's event loop was (interval − tick), ms, never below 0. */
export function lateness(delay: LoopDelay): { p50Ms: number; p99Ms: number; maxMs: number } {
  const late = (ms: number) => Math.max(0, ms - delay.resolutionMs);
  return { p50Ms: late(delay.p50Ms), p99Ms: late(delay.p99Ms), maxMs: late(delay.maxMs) };
}

/**
 * Reads a server's event-loop delay phase by phase: the probe is loaded into `pier server`
 * with `nodeOptions()`/`env()`, and each `mark()` ends a phase (SIGUSR2) and returns its figures.
 *
 * @example
 * const loop = new ServerLoopDelay(workDir, repoRoot);
 * const server = await ServerProcess.spawn({ …, nodeOptions: loop.nodeOptions(), env: loop.env() });
 * await loop.mark(server); … const window = await loop.mark(server);
 */
export class ServerLoopDelay {
  readonly #file: string;
  readonly #probe: string;

  constructor(workDir: string, repoRoot: string) {
    this.#file = join(workDir, "loop-delay.jsonl");
    this.#probe = join(repoRoot, "bench", "fleet", "loop-delay-probe.ts");
  }

  /** NODE_OPTIONS for the server: `extra` (e.g. --cpu-prof) and the probe. */
  nodeOptions(extra?: string): string {
    return [extra, `--import=${this.#probe}`].filter(Boolean).join(" ");
  }

  env(): Record<string, string> {
    return { PIER_LOOP_DELAY_FILE: this.#file };
  }

  /** Ends the current phase of `server` and returns its figures (undefined if it did not answer in 5 s). */
  async mark(server: Pick<ServerProcess, "signal">): Promise<LoopDelay | undefined> {
    const lines = () => readFileSync(this.#file, { encoding: "utf8", flag: "a+" }).split("\n").filter(Boolean);
    const before = lines().length;
    server.signal("SIGUSR2");
    for (let wait = 0; wait < 100 && lines().length === before; wait++) await sleep(50);
    const last = lines()[before];
    if (last === undefined) return undefined;
    const parsed = JSON.parse(last) as Omit<LoopDelay, "resolutionMs"> & { resolutionMs?: number };
    return { ...parsed, resolutionMs: parsed.resolutionMs ?? 10 };
  }
}
