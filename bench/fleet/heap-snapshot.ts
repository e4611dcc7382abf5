import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerProcess } from "./server-process.ts";

/**
 * Takes heap snapshots of a benchmark's server (bench/fleet/heap-snapshot-probe.ts, loaded with
 * `nodeOptions()`/`env()`), e.g. at 15,000 open sessions.
 *
 * @example
 * const heap = new ServerHeapSnapshots(dir, repoRoot);
 * const server = await ServerProcess.spawn({ …, nodeOptions: heap.nodeOptions(), env: heap.env() });
 * const file = await heap.take(server); // undefined if none was written within the time allowed
 */
export class ServerHeapSnapshots {
  readonly #dir: string;
  readonly #probe: string;
  #taken = 0;

  constructor(dir: string, repoRoot: string) {
    this.#dir = dir;
    this.#probe = join(repoRoot, "bench", "fleet", "heap-snapshot-probe.ts");
  }

  nodeOptions(): string {
    return `--import=${this.#probe}`;
  }

  env(): Record<string, string> {
    return { PIER_HEAP_SNAPSHOT_DIR: this.#dir };
  }

  /** Signals the server and waits (a large heap takes a minute or more) until the file is complete. */
  async take(server: ServerProcess, timeoutMs = 300_000): Promise<string | undefined> {
    this.#taken += 1;
    const file = join(this.#dir, `heap-${server.pid}-${this.#taken}.heapsnapshot`);
    server.signal("SIGWINCH");
    for (const deadline = performance.now() + timeoutMs; performance.now() < deadline; await sleep(500)) {
      if (existsSync(file)) return file;
    }
    return undefined;
  }
}
