/**
 * bench/fleet-simulator.ts --bare-node: the same fleet, ramp and window against
 * bench/fleet/bare-edge-server.ts (Node's own HTTP/2 mTLS server answering hello and heartbeat,
 * nothing else) instead of `pier server`: the floor of a check-in and of a connect in Node on this
 * machine, so the figures of a Pier run can be read against what no Node server goes below.
 */
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createFleetPki } from "./fleet-pki.ts";
import type { FleetGroup } from "./fleet-group.ts";
import { measureFleetWindow, rampFleet } from "./fleet-phases.ts";
import { ServerLoopDelay } from "./loop-delay.ts";
import type { FleetRunOptions } from "./replica-cluster.ts";
import { fleetReport, type FleetReport } from "./report.ts";
import { freePorts, openFileLimitOf, sampleProcess, withOpenFileLimitRaised } from "./server-process.ts";

/** The bare server's child process. */
export class BareEdgeProcess {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const keep = (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-16 * 1024));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Starts bare-edge-server.ts with the fleet's mTLS files and resolves once it listens. */
  static async start(options: {
    readonly repoRoot: string;
    readonly files: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string };
    readonly intervalSeconds: number;
    readonly nodeOptions: string;
    readonly env: Readonly<Record<string, string>>;
    readonly signal: AbortSignal;
  }): Promise<BareEdgeProcess> {
    const [port = 0] = await freePorts(1);
    const script = join(options.repoRoot, "bench", "fleet", "bare-edge-server.ts");
    const args = [script, String(port), options.files.caCertificate, options.files.serverCertificate, options.files.serverKey, String(options.intervalSeconds)];
    const [command, commandArgs] = withOpenFileLimitRaised(process.execPath, args);
    const child = spawn(command, commandArgs, { env: { ...process.env, ...options.env, NODE_OPTIONS: options.nodeOptions }, stdio: ["ignore", "pipe", "pipe"] });
    const bare = new BareEdgeProcess(child, port);
    for (let waited = 0; !bare.#output.includes("listening"); waited += 50) {
      options.signal.throwIfAborted();
      if (child.exitCode !== null || child.signalCode !== null || waited > 30_000) throw new Error(`bare-edge-server.ts did not start:\n${bare.#output}`);
      await sleep(50);
    }
    return bare;
  }

  get pid(): number {
    if (this.#child.pid === undefined) throw new Error("bare-edge-server.ts has no pid");
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  signal(name: NodeJS.Signals): void {
    if (this.running) this.#child.kill(name);
  }

  /** SIGTERM (a --cpu-prof profile is written), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.running) this.#child.kill("SIGKILL");
  }
}

/** Runs the fleet against the bare server; `own` gets each resource as soon as it exists. */
export async function runBareFleet(
  options: FleetRunOptions & {
    readonly durationSeconds: number;
    /** Gets each resource as soon as it exists, so the caller can release it however the run ends. */
    readonly own: (resource: { bare?: BareEdgeProcess; fleet?: FleetGroup }) => void;
    readonly makeFleet: () => FleetGroup;
  },
  signal: AbortSignal,
): Promise<FleetReport> {
  const { progress } = options;
  progress(`issuing ${options.agents} client certificates`);
  let started = performance.now();
  const pki = await createFleetPki(join(options.workDir, "pki"), options.agents, `bench-${randomBytes(3).toString("hex")}`);
  const certificatesSeconds = (performance.now() - started) / 1000;
  const loopDelay = new ServerLoopDelay(options.workDir, options.repoRoot);
  progress("starting the bare Node edge server (bench/fleet/bare-edge-server.ts)");
  started = performance.now();
  const bare = await BareEdgeProcess.start({ repoRoot: options.repoRoot, files: pki.files, intervalSeconds: options.intervalSeconds, nodeOptions: loopDelay.nodeOptions(options.serverNodeOptions), env: loopDelay.env(), signal });
  options.own({ bare });
  const serverStartSeconds = (performance.now() - started) / 1000;
  progress(`bare server pid ${bare.pid} on 127.0.0.1:${bare.port}`);
  const fleet = options.makeFleet();
  options.own({ fleet });
  const ramp = await rampFleet(
    fleet,
    { ...options, pki, ports: [bare.port], destination: "", serverCpuSeconds: () => sampleProcess(bare.pid).cpuSeconds, output: () => "", progress },
    signal,
  );
  const window = await measureFleetWindow(fleet, options.durationSeconds, { sample: () => sampleProcess(bare.pid), markLoops: () => loopDelay.mark(bare) }, progress, signal);
  return fleetReport({
    subject: "Bare Node (bench/fleet/bare-edge-server.ts: the floor, not Pier)",
    command: options.command,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    processes: options.processes,
    certificatesSeconds,
    serverStartSeconds,
    serverOpenFileLimit: openFileLimitOf(bare.pid),
    ramp,
    window,
    server: { atStart: window.server.atStart, atEnd: window.server.atEnd, loopDelay: window.server.loops },
  });
}
