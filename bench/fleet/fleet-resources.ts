import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBenchmark, type BenchmarkSpec } from "./benchmark-process.ts";
import type { FleetGroup } from "./fleet-group.ts";
import type { ReplicaCluster } from "./replica-cluster.ts";
import type { ScriptProcess } from "./script-process.ts";
import type { ServerProcess } from "./server-process.ts";

/**
 * What a fleet benchmark run owns (bench/fleet-simulator.ts, bench/storm.ts): its work directory,
 * server or replica cluster, and simulated fleet; released by `cleanUp` however the run ends, or
 * by `killNow` from the process's `exit` handler.
 *
 * @example
 * const resources = new FleetResources();
 * const workDir = resources.makeWorkDir("pier-fleet-", options.serverCpuProfDir);
 * resources.fleet = new FleetGroup(2);
 * await resources.cleanUp();
 */
export class FleetResources {
  workDir: string | undefined;
  server: ServerProcess | undefined;
  cluster: ReplicaCluster | undefined;
  fleet: FleetGroup | undefined;
  bare: ScriptProcess | undefined;

  /** Gets each resource as soon as it exists (the cluster runs' `own`). */
  readonly own = (resource: { cluster?: ReplicaCluster; fleet?: FleetGroup; bare?: ScriptProcess }): void => {
    Object.assign(this, resource);
  };

  /** A new temporary work directory owned by the run, and `cpuProfDir` made when given. */
  makeWorkDir(prefix: string, cpuProfDir?: string): string {
    this.workDir = mkdtempSync(join(tmpdir(), prefix));
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
    return this.workDir;
  }

  /** Ends the simulated fleet (before the report is printed: its processes end with it). */
  async stopFleet(): Promise<void> {
    await this.fleet?.stop();
    this.fleet = undefined;
  }

  /** Stops the fleet, the server or cluster, and removes the work directory. */
  async cleanUp(): Promise<void> {
    await this.stopFleet();
    await this.server?.stop();
    await this.bare?.stop();
    await this.cluster?.stop();
    this.cluster = undefined;
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
    this.workDir = undefined;
  }

  /** The last resort of an `exit` handler: synchronous, no grace. */
  killNow(): void {
    this.fleet?.killNow();
    this.server?.killNow();
    this.bare?.killNow();
    this.cluster?.killNow();
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * `runBenchmark` for a fleet benchmark whose run owns `resources`: the fleet ends before the
 * report is printed, the rest after it, however the run ended.
 */
export function runFleetBenchmark<Options>(resources: FleetResources, spec: Omit<BenchmarkSpec<Options>, "cleanUp" | "killNow">): Promise<number> {
  return runBenchmark({
    ...spec,
    run: async (options, signal) => {
      const lines = await spec.run(options, signal);
      await resources.stopFleet();
      return lines;
    },
    cleanUp: () => resources.cleanUp(),
    killNow: () => resources.killNow(),
  });
}
