/**
 * Benchmark: a fleet of simulated edge agents in one process against a real `pier server`
 * process, over real mutual TLS on 127.0.0.1, speaking the session protocol (docs/protocol.md).
 *
 *   npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20]
 *                                     [--server-cpu-prof DIR]
 *
 * Creates an mTLS CA, a server certificate (DNS:localhost) and one client certificate per agent
 * (CN = EDGE_ID), starts the server with them, sets the check-in interval over the API, connects
 * the agents evenly over --ramp seconds, waits one interval, then measures for --duration
 * seconds: check-ins per second, check-in latency (heartbeat → ack), server CPU and peak RSS
 * (from /proc), and the simulator's own CPU (it shares the machine). Everything runs in bounded
 * time and is removed at the end, also on failure or Ctrl-C. Exit code 0 whatever the targets
 * say (it is a benchmark); 1 when the run could not be set up; 130 when interrupted.
 *
 * --server-cpu-prof DIR runs the server with --cpu-prof (whole lifetime; the window's
 * CLOCK_MONOTONIC bounds are printed, the profile's timestamps use the same clock).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Fleet, type MeasurementWindow } from "./fleet/fleet.ts";
import { createFleetPki } from "./fleet/fleet-pki.ts";
import { LatencySamples } from "./fleet/latency-samples.ts";
import { configureFleetSettings } from "./fleet/pier-admin.ts";
import { formatReport, type FleetReport } from "./fleet/report.ts";
import { ServerProcess, sampleProcess, threadDelta } from "./fleet/server-process.ts";

const usage = `Usage: npx node bench/fleet-simulator.ts [--agents 2000] [--interval 5] [--duration 60] [--ramp 20] [--server-cpu-prof DIR]`;
const targets = { serverCpuPercent: 25, p99Ms: 100 } as const;
/** After the ramp, how long stragglers may still connect (with retries) before we measure anyway. */
const connectGraceMs = 30_000;
/** After the window, how long acks of heartbeats sent in it may still arrive. */
const ackGraceMs = 5_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Options {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly serverCpuProfDir?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string", default: "2000" },
      interval: { type: "string", default: "5" },
      duration: { type: "string", default: "60" },
      ramp: { type: "string", default: "20" },
      "server-cpu-prof": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const number = (name: string, text: string, check: (n: number) => boolean, rule: string) => {
    const value = Number(text);
    if (!check(value)) throw new Error(`--${name} must be ${rule}, got "${text}".\n${usage}`);
    return value;
  };
  return {
    agents: number("agents", values.agents, (n) => Number.isInteger(n) && n >= 1 && n <= 20_000, "an integer from 1 to 20000"),
    // The API takes whole seconds (EdgeAgentCheckinInterval).
    intervalSeconds: number("interval", values.interval, (n) => Number.isInteger(n) && n >= 1 && n <= 3600, "an integer from 1 to 3600"),
    durationSeconds: number("duration", values.duration, (n) => n > 0 && n <= 3600, "a number of seconds from 1 to 3600"),
    rampSeconds: number("ramp", values.ramp, (n) => n >= 0 && n <= 3600, "a number of seconds from 0 to 3600"),
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
  };
}

function progress(message: string): void {
  process.stderr.write(`[fleet] ${message}\n`);
}

/** Reports the ramp every two seconds until everyone is connected or the deadline passes. */
async function waitForFleet(fleet: Fleet, deadline: number, signal: AbortSignal): Promise<void> {
  let lastReport = 0;
  while (fleet.connected < fleet.size && performance.now() < deadline) {
    await sleep(100, undefined, { signal });
    if (performance.now() - lastReport >= 2_000) {
      lastReport = performance.now();
      progress(`connected ${fleet.connected}/${fleet.size}, connect failures ${fleet.connectFailures.total}`);
    }
  }
}

/**
 * How late the simulator's own timers fire (ms beyond a 20 ms tick): latency measured here
 * includes this, so it tells whether the load generator distorts the numbers.
 * (monitorEventLoopDelay reports whole tick intervals at its resolution, not the excess.)
 */
function startLagProbe(): { stop(): ReturnType<LatencySamples["summary"]> } {
  const samples = new LatencySamples();
  const tickMs = 20;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    samples.add(Math.max(0, now - last - tickMs));
    last = now;
  }, tickMs).unref();
  return {
    stop() {
      clearInterval(timer);
      return samples.summary();
    },
  };
}

async function waitForAcks(fleet: Fleet, window: MeasurementWindow, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + ackGraceMs;
  while (window.acked < window.sent && fleet.inFlight > 0 && performance.now() < deadline) await sleep(50, undefined, { signal });
}

/** Resources the run owns; released by `cleanUp` however the run ends. */
const owned: { workDir?: string; server?: ServerProcess; fleet?: Fleet } = {};

async function cleanUp(): Promise<void> {
  owned.fleet?.stop();
  await owned.server?.stop();
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  owned.workDir = undefined;
}

async function run(options: Options, signal: AbortSignal): Promise<FleetReport> {
  const intervalMs = options.intervalSeconds * 1000;
  const workDir = mkdtempSync(join(tmpdir(), "pier-fleet-"));
  owned.workDir = workDir;

  progress(`issuing ${options.agents} client certificates`);
  let started = performance.now();
  const pki = await createFleetPki(join(workDir, "pki"), options.agents, `bench-${randomBytes(3).toString("hex")}`);
  const certificatesSeconds = (performance.now() - started) / 1000;
  signal.throwIfAborted();

  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(workDir, "admin-password");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const dataDir = join(workDir, "data");
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  progress("starting pier server");
  started = performance.now();
  const server = await ServerProcess.spawn({
    repoRoot,
    dataDir,
    adminPasswordFile: passwordFile,
    mtls: pki.files,
    ...(options.serverCpuProfDir ? { nodeOptions: `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` } : {}),
  });
  owned.server = server;
  await server.ready(30_000, signal);
  await configureFleetSettings({ port: server.httpsPort, ca: readFileSync(join(dataDir, "ca", "ca.crt")), password, intervalSeconds: options.intervalSeconds });
  const serverStartSeconds = (performance.now() - started) / 1000;
  progress(`server pid ${server.pid}: HTTPS 127.0.0.1:${server.httpsPort}, tunnel 127.0.0.1:${server.tunnelPort}; check-in interval ${options.intervalSeconds} s`);
  signal.throwIfAborted();

  // Ramp: connect everyone, retrying failures until the deadline.
  const rampMs = options.rampSeconds * 1000;
  const fleetStart = performance.now();
  const connectDeadline = fleetStart + rampMs + connectGraceMs;
  const fleet = new Fleet({ identities: pki.agents, target: { port: server.tunnelPort, ca: pki.caPem, timeoutMs: 15_000 }, intervalMs, rampMs, retryUntil: connectDeadline });
  owned.fleet = fleet;
  const beforeRamp = sampleProcess(server.pid);
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s`);
  const rampLag = startLagProbe();
  fleet.start();
  await waitForFleet(fleet, connectDeadline, signal);
  const rampSeconds = (performance.now() - fleetStart) / 1000;
  const afterRamp = sampleProcess(server.pid);
  const rampLagSummary = rampLag.stop();
  const connected = fleet.connected;
  progress(`connected ${connected}/${options.agents} in ${rampSeconds.toFixed(1)} s; warming up for ${options.intervalSeconds} s`);
  if (connected === 0) throw new Error(`No agent could connect. Reasons: ${JSON.stringify(fleet.connectFailures.entries())}\nServer output:\n${server.output()}`);

  // Warm-up: one interval, so every agent has sent a heartbeat on its phase before we count.
  await sleep(intervalMs, undefined, { signal });

  progress(`measuring for ${options.durationSeconds} s`);
  const lag = startLagProbe();
  const serverAtStart = sampleProcess(server.pid);
  const cpuAtStart = process.cpuUsage();
  const monotonicStart = process.hrtime.bigint();
  const window = fleet.beginWindow();
  const connectedAtStart = fleet.connected;
  await sleep(options.durationSeconds * 1000, undefined, { signal });
  fleet.endWindow(window);
  const serverAtEnd = sampleProcess(server.pid);
  const cpu = process.cpuUsage(cpuAtStart);
  const monotonicEnd = process.hrtime.bigint();
  const lagSummary = lag.stop();
  const connectedAtEnd = fleet.connected;
  await waitForAcks(fleet, window, signal);
  if (options.serverCpuProfDir) {
    progress(`window in CLOCK_MONOTONIC µs: ${monotonicStart / 1000n}..${monotonicEnd / 1000n} (profile written to ${options.serverCpuProfDir} when the server exits)`);
  }

  const serverOutput = server.output().trim();
  if (serverOutput) progress(`server printed (last lines):\n${serverOutput.split("\n").slice(-10).join("\n")}`);

  return {
    command: `npx node bench/fleet-simulator.ts --agents ${options.agents} --interval ${options.intervalSeconds} --duration ${options.durationSeconds} --ramp ${options.rampSeconds}${options.serverCpuProfDir ? ` --server-cpu-prof ${options.serverCpuProfDir}` : ""}`,
    environment: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${process.platform}`,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    setup: {
      certificatesSeconds,
      serverStartSeconds,
      rampSeconds,
      connected,
      setupTimes: fleet.setupTimes,
      resumedHandshakes: fleet.resumedHandshakes,
      serverCpuSeconds: afterRamp.cpuSeconds - beforeRamp.cpuSeconds,
      simulatorLagP99Ms: rampLagSummary.p99,
      simulatorLagMaxMs: rampLagSummary.max,
      connectFailures: fleet.connectFailures,
      intervalMismatches: fleet.intervalMismatches,
    },
    window: {
      warmUpSeconds: options.intervalSeconds,
      seconds: (window.end - window.start) / 1000,
      connectedAtStart,
      connectedAtEnd,
      sent: window.sent,
      acked: window.acked,
      latencies: window.latencies,
      lostSessions: fleet.lostSessions,
    },
    server: {
      cpuSeconds: serverAtEnd.cpuSeconds - serverAtStart.cpuSeconds,
      userSeconds: serverAtEnd.userSeconds - serverAtStart.userSeconds,
      systemSeconds: serverAtEnd.systemSeconds - serverAtStart.systemSeconds,
      threads: threadDelta(serverAtStart, serverAtEnd),
      peakRssBytes: serverAtEnd.peakRssBytes,
      rssBytes: serverAtEnd.rssBytes,
    },
    simulator: {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopDelayP99Ms: lagSummary.p99,
      eventLoopDelayMaxMs: lagSummary.max,
      rssBytes: process.memoryUsage.rss(),
    },
    targets,
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const controller = new AbortController();
  // Bounded: setup (certificates, server start) + ramp + grace + warm-up + window + ack grace + slack.
  const budgetMs = 120_000 + options.rampSeconds * 1000 + connectGraceMs + (options.intervalSeconds + options.durationSeconds) * 1000 + ackGraceMs;
  const watchdog = setTimeout(() => controller.abort(new Error(`the run exceeded its ${Math.round(budgetMs / 1000)} s budget`)), budgetMs);
  let interrupted = false;
  const onSignal = (name: string) => {
    if (interrupted) {
      // Second Ctrl-C: the exit handler still kills the server and removes the files.
      process.exit(130);
    }
    interrupted = true;
    progress(`${name}: stopping and cleaning up (again to force)`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  // Last resort when the process ends without reaching `finally` (process.exit, a crash).
  process.on("exit", () => {
    owned.server?.killNow();
    if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  });

  try {
    const report = await run(options, controller.signal);
    owned.fleet?.stop();
    console.log(formatReport(report));
    return 0;
  } catch (error) {
    const reason = controller.signal.aborted ? (controller.signal.reason as Error) : error;
    console.error(`fleet benchmark failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    return interrupted ? 130 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanUp();
  }
}

process.exitCode = await main();
// Everything is closed by now; a handle left open by a library must not make the run unbounded.
setTimeout(() => process.exit(), 5_000).unref();
