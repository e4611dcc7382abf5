/**
 * bench/fleet-simulator.ts --bare-node: the same fleet, ramp and window against
 * bench/fleet/bare-edge-server.ts (Node's own HTTP/2 mTLS server answering hello and heartbeat,
 * nothing else) instead of `pier server`: the floor of a check-in and of a connect in Node on this
 * machine, so the figures of a Pier run can be read against what no Node server goes below.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createFleetPki } from "./fleet-pki.ts";
import type { FleetGroup } from "./fleet-group.ts";
import { measureFleetWindow, rampFleet } from "./fleet-phases.ts";
import { ServerLoopDelay } from "./loop-delay.ts";
import type { FleetRunOptions } from "./replica-cluster.ts";
import { fleetReport, type FleetReport } from "./report.ts";
import { ScriptProcess } from "./script-process.ts";
import { freePorts, openFileLimitOf, sampleProcess, withOpenFileLimitRaised } from "./server-process.ts";

/** Starts bare-edge-server.ts with the fleet's mTLS files and resolves once it listens. */
async function startBareEdgeServer(options: {
  readonly repoRoot: string;
  readonly port: number;
  readonly files: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string };
  readonly intervalSeconds: number;
  readonly nodeOptions: string;
  readonly env: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  readonly onSpawn: (process: ScriptProcess) => void;
}): Promise<ScriptProcess> {
  const script = join(options.repoRoot, "bench", "fleet", "bare-edge-server.ts");
  const [command, args] = withOpenFileLimitRaised(process.execPath, [script, String(options.port), options.files.caCertificate, options.files.serverCertificate, options.files.serverKey, String(options.intervalSeconds)]);
  return ScriptProcess.start({ name: "bare-edge-server.ts", command, args, env: { ...process.env, ...options.env, NODE_OPTIONS: options.nodeOptions }, signal: options.signal, onSpawn: options.onSpawn });
}

/** Runs the fleet against the bare server; `own` gets each resource as soon as it exists. */
export async function runBareFleet(
  options: FleetRunOptions & {
    readonly durationSeconds: number;
    /** Gets each resource as soon as it exists, so the caller can release it however the run ends. */
    readonly own: (resource: { bare?: ScriptProcess; fleet?: FleetGroup }) => void;
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
  const [port = 0] = await freePorts(1);
  const bare = await startBareEdgeServer({ repoRoot: options.repoRoot, port, files: pki.files, intervalSeconds: options.intervalSeconds, nodeOptions: loopDelay.nodeOptions(options.serverNodeOptions), env: loopDelay.env(), signal, onSpawn: (bare) => options.own({ bare }) });
  const serverStartSeconds = (performance.now() - started) / 1000;
  progress(`bare server pid ${bare.pid} on 127.0.0.1:${port}`);
  const fleet = options.makeFleet();
  options.own({ fleet });
  const ramp = await rampFleet(
    fleet,
    { ...options, pki, ports: [port], destination: "", serverCpuSeconds: () => sampleProcess(bare.pid).cpuSeconds, output: () => "", progress },
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
