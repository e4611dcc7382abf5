/**
 * Benchmark: a renewal storm (docs/identity.md, "Renewal"). A real `pier server` process with its
 * built-in CA; N simulated agents in this process, each with its own device certificate from
 * that CA, connected over real mutual TLS to the tunnel listener, holding a session and sending
 * a heartbeat every interval. Then every agent's certificate "reaches ⅔ of its lifetime" within
 * the same minute: each posts `POST /api/edge/v1/certificate/renew` with a new CSR at a random
 * moment of the storm window, on its session's connection, and honours `429` + `Retry-After`
 * until it is renewed. Measured: time until all are renewed, the 429s, the server's CPU during
 * the storm, and heartbeat (ack) latency before and during it.
 *
 *   npx node bench/renewal-storm.ts [--agents 15000] [--window 60] [--rate 50] [--ramp 60] [--interval 30] [--server-node-options="--cpu-prof --cpu-prof-dir=DIR"]
 *
 * The server's event-loop delay before and during the storm comes from bench/fleet/loop-delay-probe.ts,
 * which the benchmark loads into the server (NODE_OPTIONS --import) and reads at each phase change.
 *
 * Set-up as bench/revocation-latency.ts: the server starts once to create `DATA/ca`, stops; the
 * certificates are signed in memory (`deviceSigner`) and recorded with their environments
 * straight in `pier.db`; the server starts again with `--renewal-rate RATE`. The agents' new
 * keys and CSRs are made before the storm (a real agent makes its own at renewal time, on its
 * own CPU; here they would share the server's two cores). A renewed agent keeps its session
 * (the make-before-break reconnect is the agent's, measured by the agent tests). Everything is
 * removed at the end, also on Ctrl-C. Exit code 0 whatever the figures; 130 when interrupted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createCsr, csrToPem, generateKeyPairSync } from "@pier/pki";
import { connectWithBackoff, createBuiltInCa, endBuiltInCaRun, provisionBuiltInCaDevices, runBuiltInCaBenchmark } from "./fleet/built-in-ca-fleet.ts";
import type { AgentIdentity } from "./fleet/fleet-pki.ts";
import { LatencySamples, ReasonCounts } from "./fleet/latency-samples.ts";
import { ServerProcess, sampleProcess } from "./fleet/server-process.ts";
import { SimulatedAgent, describeFailure } from "./fleet/simulated-agent.ts";

/** The server's event-loop delay per phase (bench/fleet/loop-delay-probe.ts, loaded into it). */
interface LoopDelay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly count: number;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const password = "renewal storm benchmark password";
const renewPath = "/api/edge/v1/certificate/renew";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "15000" },
    window: { type: "string", default: "60" },
    rate: { type: "string", default: "50" },
    ramp: { type: "string", default: "60" },
    interval: { type: "string", default: "30" },
    // NODE_OPTIONS for the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    "server-node-options": { type: "string", default: "" },
  },
});
const agentCount = Number(values.agents);
const stormWindowMs = Number(values.window) * 1000;
const renewalRate = Number(values.rate);
const rampMs = Number(values.ramp) * 1000;
const intervalSeconds = Number(values.interval);
for (const [name, value] of Object.entries({ agents: agentCount, window: stormWindowMs, rate: renewalRate, ramp: rampMs, interval: intervalSeconds })) {
  if (!(Number.isFinite(value) && value >= 0) || (name !== "ramp" && value === 0)) throw new Error(`--${name} must be a positive number`);
}

/** A device of the storm: its identity, and the CSR it will renew with. */
interface Device {
  readonly identity: AgentIdentity;
  readonly csrPem: string;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const ms = (value: number) => (Number.isNaN(value) ? "n/a" : value.toFixed(1));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pier-renewal-storm-"));
  const dataDir = join(dir, "data");
  const passwordFile = join(dir, "admin-password");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const limits = ["--max-connections", String(agentCount + 1000), "--max-connections-per-source", String(agentCount + 1000), "--renewal-rate", String(renewalRate)];
  const serverOptions = { repoRoot, dataDir, adminPasswordFile: passwordFile, extraArgs: limits };
  let server: ServerProcess | undefined;
  const agents: SimulatedAgent[] = [];
  let heartbeat: NodeJS.Timeout | undefined;
  // Ctrl-C or a kill: stop the server and remove the files, then exit 130.
  const interrupted = () => {
    server?.killNow();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    await createBuiltInCa(serverOptions);
    const provisionStarted = Date.now();
    // Each device's next key and CSR, made before the storm.
    const devices: Device[] = (await provisionBuiltInCaDevices({ dataDir, count: agentCount, edgeIdPrefix: "storm", lifetimeSeconds: 30 * 86_400, intervalSeconds })).map(({ identity }) => {
      const next = generateKeyPairSync("ecdsa-p256");
      return { identity, csrPem: csrToPem(createCsr({ privateKey: next.privateKey, subject: { commonName: identity.edgeId } })) };
    });
    console.log(`provisioned ${agentCount} devices with built-in CA certificates (and their next CSRs) in ${seconds(Date.now() - provisionStarted)} s`);
    const loopDelayFile = join(dir, "loop-delay.jsonl");
    // One line per SIGUSR2: the server's event-loop delay since the previous one.
    const loopDelayMark = async (): Promise<LoopDelay | undefined> => {
      const lines = () => readFileSync(loopDelayFile, { encoding: "utf8", flag: "a+" }).split("\n").filter(Boolean);
      const before = lines().length;
      server?.signal("SIGUSR2");
      for (let wait = 0; wait < 100 && lines().length === before; wait++) await sleep(50);
      const last = lines()[before];
      return last === undefined ? undefined : (JSON.parse(last) as LoopDelay);
    };
    server = await ServerProcess.spawn({
      ...serverOptions,
      nodeOptions: [process.env["NODE_OPTIONS"], values["server-node-options"], `--import=${join(repoRoot, "bench", "fleet", "loop-delay-probe.ts")}`].filter(Boolean).join(" "),
      env: { PIER_LOOP_DELAY_FILE: loopDelayFile },
    });
    await server.ready(60_000, AbortSignal.timeout(120_000));
    const serverPid = server.pid;
    const ca = readFileSync(join(dataDir, "ca", "ca.crt"));

    // Heartbeat latency, split by phase: before the storm and while it lasts.
    const phase = { current: "connect" as "connect" | "before" | "storm" | "after" };
    const latency = { before: new LatencySamples(), storm: new LatencySamples() };
    const lost = new ReasonCounts();
    const target = { port: server.tunnelPort, ca, timeoutMs: 60_000 };
    let connected = 0;
    let failed = 0;
    const connectFailures = new ReasonCounts();
    // One heartbeat per agent per interval at a fixed phase (agent i in 100 ms slot i mod slots);
    // a late tick catches up on every slot it missed, so no agent goes silent under load.
    const slots = intervalSeconds * 10;
    const beatStarted = Date.now();
    let lastTick = -1;
    heartbeat = setInterval(() => {
      const tick = Math.floor((Date.now() - beatStarted) / 100);
      for (let t = Math.max(lastTick + 1, tick - slots + 1); t <= tick; t++) {
        for (let index = t % slots; index < agents.length; index += slots) if (agents[index]?.isOpen) agents[index]?.heartbeat();
      }
      lastTick = tick;
    }, 100);
    const connectStarted = Date.now();
    await Promise.all(
      devices.map(async (device, index) => {
        await sleep((index / agentCount) * rampMs);
        const agent = new SimulatedAgent(device.identity, {
          onAck: (latencyMs) => {
            if (phase.current === "before" || phase.current === "storm") latency[phase.current].add(latencyMs);
          },
          onLost: (reason) => lost.add(reason),
        });
        agents[index] = agent;
        // As the agent: retries with exponential backoff and jitter (1 s doubling, at most 30 s).
        if (await connectWithBackoff(agent, target, { attempts: 8, baseMs: 1000, onFailure: (reason) => connectFailures.add(reason) })) connected++;
        else failed++;
      }),
    );
    console.log(`connected ${connected}/${agentCount} agents in ${seconds(Date.now() - connectStarted)} s (${failed} gave up; ${connectFailures.total} failed attempts${connectFailures.total ? `: ${connectFailures.entries().slice(0, 3).map(([reason, count]) => `${count}× ${reason}`).join("; ")}` : ""})`);
    phase.current = "before";
    await loopDelayMark();
    await sleep(intervalSeconds * 1000);
    const loopBefore = await loopDelayMark();

    // The storm: every agent renews at a random moment of the window, retrying as told.
    phase.current = "storm";
    const cpuBefore = sampleProcess(serverPid);
    const ownCpuBefore = process.cpuUsage();
    const stormStarted = performance.now();
    const wallStarted = Date.now();
    let renewed = 0;
    let deferred = 0;
    let lastRenewedAt = 0;
    const failures = new ReasonCounts();
    const retryAfters = new LatencySamples();
    const perSecond = new Map<number, number>();
    await Promise.all(
      devices.map(async (device, index) => {
        await sleep(Math.random() * stormWindowMs);
        const agent = agents[index];
        if (!agent?.isOpen) {
          failures.add("no session");
          return;
        }
        for (let attempt = 0; attempt < 200; attempt++) {
          let answer;
          try {
            answer = await agent.post(renewPath, JSON.stringify({ csr: device.csrPem }));
          } catch (error) {
            failures.add(describeFailure(error));
            return;
          }
          if (answer.status === 200) {
            renewed++;
            lastRenewedAt = performance.now() - stormStarted;
            const second = Math.floor(lastRenewedAt / 1000);
            perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
            return;
          }
          if (answer.status === 429 || answer.status === 503) {
            deferred++;
            const wait = answer.retryAfter ?? 1;
            retryAfters.add(wait);
            await sleep(wait * 1000);
            continue;
          }
          failures.add(`HTTP ${answer.status}: ${answer.body.slice(0, 120)}`);
          return;
        }
        failures.add("gave up after 200 attempts");
      }),
    );
    const stormMs = performance.now() - stormStarted;
    const cpuAfter = sampleProcess(serverPid);
    const ownCpu = process.cpuUsage(ownCpuBefore);
    const loopStorm = await loopDelayMark();
    phase.current = "after";
    const cpuSeconds = cpuAfter.cpuSeconds - cpuBefore.cpuSeconds;
    const before = latency.before.summary();
    const storm = latency.storm.summary();
    const waits = retryAfters.summary();
    const peak = Math.max(0, ...perSecond.values());
    console.log(`\nrenewal storm: ${agentCount} agents, ${connected} connected, every renewal started within ${seconds(stormWindowMs)} s, --renewal-rate ${renewalRate}/s, heartbeat every ${intervalSeconds} s`);
    console.log(`  renewed ${renewed}/${connected}; last renewal ${seconds(lastRenewedAt)} s after the storm began (ideal at ${renewalRate}/s: ${seconds((connected / renewalRate) * 1000)} s); storm over after ${seconds(stormMs)} s`);
    console.log(`  429 answers ${deferred} (${(deferred / Math.max(1, renewed)).toFixed(2)} per renewal); Retry-After p50 ${waits.p50} s, p99 ${waits.p99} s, max ${waits.max} s; peak ${peak} renewals in one second`);
    console.log(`  server CPU during the storm: ${cpuSeconds.toFixed(1)} s over ${seconds(stormMs)} s = ${((cpuSeconds / (stormMs / 1000)) * 100).toFixed(0)} % of one core; RSS ${(cpuAfter.rssBytes / 2 ** 20).toFixed(0)} MiB`);
    console.log(`  heartbeat → ack: before p50 ${ms(before.p50)} ms, p99 ${ms(before.p99)} ms (n=${before.count}); during p50 ${ms(storm.p50)} ms, p99 ${ms(storm.p99)} ms, max ${ms(storm.max)} ms (n=${storm.count})`);
    const loop = (delay: LoopDelay | undefined) => (delay ? `p50 ${ms(delay.p50Ms)} ms, p99 ${ms(delay.p99Ms)} ms, max ${ms(delay.maxMs)} ms` : "n/a");
    console.log(`  server event-loop delay (10 ms resolution, whole intervals): before ${loop(loopBefore)}; during ${loop(loopStorm)}`);
    console.log(`  sessions lost during the run: ${lost.total}${lost.total ? ` (${lost.entries().slice(0, 3).map(([reason, count]) => `${count}× ${reason}`).join("; ")})` : ""}; renewal failures: ${failures.total}${failures.total ? ` (${failures.entries().slice(0, 3).map(([reason, count]) => `${count}× ${reason}`).join("; ")})` : ""}`);
    console.log(`  this simulator's own CPU during the storm: ${((ownCpu.user + ownCpu.system) / 1e6).toFixed(1)} s; machine load average at the end ${loadavg().map((load) => load.toFixed(1)).join(" / ")} (1/5/15 min) on ${navigator.hardwareConcurrency} cores`);
    console.log(`  storm started ${new Date(wallStarted).toISOString()}`);
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    await endBuiltInCaRun({ agents, server, dir });
  }
}

runBuiltInCaBenchmark(main);
