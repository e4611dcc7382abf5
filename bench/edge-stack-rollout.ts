/**
 * Benchmark: one edge stack to a fleet of simulated devices (docs/fleet.md) against a real
 * `pier server` process, over real mutual TLS on 127.0.0.1.
 *
 *   npx node bench/edge-stack-rollout.ts [--agents 1000] [--interval 5] [--deploy-delay 2]
 *                                        [--ramp 20] [--baseline 15] [--timeout 300]
 *
 * The devices are bench/fleet's simulated agents (session protocol, heartbeats at a fixed phase).
 * Each one acts as the real agent does with its desired state: when the welcome or a status frame
 * carries a desired-state version it has not fetched, it fetches `GET /api/edge/v1/desired-state`
 * on its session's connection; for a stack version it has not seen it reports Acknowledged (3) and
 * Deploying (8) at once, then Running (7) after a simulated deployment of --deploy-delay seconds
 * (± 50 %, uniform). After the fleet is connected and every device holds an empty desired state
 * (a static edge group of all of them), the heartbeat latency is measured for --baseline seconds;
 * then one stack is created through the API (`POST /api/edge_stacks/create/string`) and the run
 * measures: time until every device has the desired state, has acknowledged, runs; server CPU in
 * that span; heartbeat p99 during it. The server's own view (`GET /api/edge_stacks/{id}`
 * `Status`) is checked at the end. Not part of the test suite. Exit code 0 whatever the figures
 * say; 1 when the run could not be set up or did not finish within --timeout.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { edgePaths, edgeStackStatusTypes, type DesiredState, type FleetReport } from "@pier/protocol";
import { Fleet } from "./fleet/fleet.ts";
import { createFleetPki } from "./fleet/fleet-pki.ts";
import { LatencySamples, startLagProbe } from "./fleet/latency-samples.ts";
import { benchmarkOptions, stringOptions } from "./fleet/options.ts";
import { configureFleetSettings, httpsJson } from "./fleet/pier-admin.ts";
import { ServerProcess, sampleProcess } from "./fleet/server-process.ts";

const usage = "Usage: npx node bench/edge-stack-rollout.ts [--agents 1000] [--interval 5] [--deploy-delay 2] [--ramp 20] [--baseline 15] [--timeout 300]";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const composeFile = "services:\n  web:\n    image: registry.example/bench/web:1\n    environment:\n      GREETING: hello\n";

interface Options {
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly deployDelaySeconds: number;
  readonly rampSeconds: number;
  readonly baselineSeconds: number;
  readonly timeoutSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values, number, integer, seconds } = benchmarkOptions(argv, usage, {
    ...stringOptions({ agents: "1000", interval: "5", "deploy-delay": "2", ramp: "20", baseline: "15", timeout: "300" }),
  });
  const positiveSeconds = (name: string, text: string) => number(name, text, (n) => n > 0 && n <= 3600, "a number of seconds from 1 to 3600");
  return {
    agents: integer("agents", values.agents, 1, 10_000),
    intervalSeconds: integer("interval", values.interval, 1, 3600),
    deployDelaySeconds: seconds("deploy-delay", values["deploy-delay"], 0, 600),
    rampSeconds: seconds("ramp", values.ramp, 0, 3600),
    baselineSeconds: positiveSeconds("baseline", values.baseline),
    timeoutSeconds: positiveSeconds("timeout", values.timeout),
  };
}

function progress(message: string): void {
  process.stderr.write(`[stacks] ${message}\n`);
}

/** When (performance.now()) each device reached a step of the stack's deployment. */
class Milestones {
  readonly #at: (number | undefined)[];
  count = 0;
  constructor(size: number) {
    this.#at = Array.from({ length: size }, () => undefined);
  }
  mark(index: number, now = performance.now()): void {
    if (this.#at[index] !== undefined) return;
    this.#at[index] = now;
    this.count++;
  }
  /** Seconds after `origin`: per-device percentiles and the last device. */
  summary(origin: number): { count: number; p50: number; p99: number; last: number } {
    const samples = new LatencySamples();
    for (const at of this.#at) if (at !== undefined) samples.add((at - origin) / 1000);
    const s = samples.summary();
    return { count: s.count, p50: s.p50, p99: s.p99, last: s.max };
  }
}

/**
 * The device side of the desired state, per simulated agent: fetch on a new version (one fetch
 * at a time, again if the version moved meanwhile), report each new stack version, retrying a
 * refused report as the agent's outbox does.
 */
class SimulatedDevices {
  readonly fetched: Milestones;
  readonly acknowledged: Milestones;
  readonly running: Milestones;
  fetches = 0;
  reports = 0;
  failures = new Map<string, number>();
  /** The stack (name) whose milestones are counted; others are reported but not timed. */
  watchedStack: string | undefined;
  readonly #fleet: () => Fleet | undefined;
  readonly #deployDelayMs: number;
  readonly #told: (string | undefined)[];
  readonly #held: (string | undefined)[];
  readonly #busy: boolean[];
  readonly #seen: Set<string>[];
  #stopped = false;

  constructor(size: number, fleet: () => Fleet | undefined, deployDelayMs: number) {
    this.#fleet = fleet;
    this.#deployDelayMs = deployDelayMs;
    this.fetched = new Milestones(size);
    this.acknowledged = new Milestones(size);
    this.running = new Milestones(size);
    this.#told = Array.from({ length: size }, () => undefined);
    this.#held = Array.from({ length: size }, () => undefined);
    this.#busy = Array.from({ length: size }, () => false);
    this.#seen = Array.from({ length: size }, () => new Set<string>());
  }

  /** Devices told a version at least once. */
  get informed(): number {
    return this.#told.filter((version) => version !== undefined).length;
  }

  /** Devices whose last fetched version is the last one they were told. */
  get settled(): number {
    let count = 0;
    for (let i = 0; i < this.#told.length; i++) if (this.#told[i] !== undefined && this.#told[i] === this.#held[i] && !this.#busy[i]) count++;
    return count;
  }

  told(index: number, version: string): void {
    this.#told[index] = version;
    void this.#sync(index);
  }

  stop(): void {
    this.#stopped = true;
  }

  #fail(reason: string): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }

  async #sync(index: number): Promise<void> {
    if (this.#busy[index] || this.#stopped) return;
    this.#busy[index] = true;
    try {
      while (!this.#stopped && this.#told[index] !== this.#held[index]) {
        const wanted = this.#told[index];
        const agent = this.#fleet()?.agent(index);
        if (!agent?.isOpen) return;
        const answer = await agent.request("GET", edgePaths.desiredState).catch((error: unknown) => ({ status: 0, body: String(error), retryAfter: undefined }));
        this.fetches++;
        if (answer.status !== 200) {
          this.#fail(`desired state ${answer.status}: ${answer.body.slice(0, 100)}`);
          await sleep(1000);
          continue;
        }
        const document = JSON.parse(answer.body) as DesiredState;
        this.#held[index] = wanted;
        for (const stack of document.stacks) {
          const key = `${stack.id}:${stack.version}`;
          if (this.#seen[index]?.has(key)) continue;
          this.#seen[index]?.add(key);
          const watched = stack.name === this.watchedStack;
          if (watched) this.fetched.mark(index);
          void this.#deploy(index, stack.id, stack.version, watched);
        }
      }
    } finally {
      this.#busy[index] = false;
    }
  }

  async #deploy(index: number, stackId: number, version: number, watched: boolean): Promise<void> {
    const now = () => Math.floor(Date.now() / 1000);
    if (!(await this.#report(index, { stacks: [{ stackId, version, type: edgeStackStatusTypes.acknowledged, time: now() }, { stackId, version, type: edgeStackStatusTypes.deploying, time: now() }], jobs: [] }))) return;
    if (watched) this.acknowledged.mark(index);
    await sleep(this.#deployDelayMs * (0.5 + Math.random()));
    if (!(await this.#report(index, { stacks: [{ stackId, version, type: edgeStackStatusTypes.running, time: now() }], jobs: [] }))) return;
    if (watched) this.running.mark(index);
  }

  /** Posts a report until the server stores it (204), as the agent's outbox does; false when stopped. */
  async #report(index: number, report: FleetReport): Promise<boolean> {
    const body = JSON.stringify(report);
    for (let attempt = 0; !this.#stopped; attempt++) {
      const agent = this.#fleet()?.agent(index);
      const answer = agent?.isOpen ? await agent.request("POST", edgePaths.report, body).catch((error: unknown) => ({ status: 0, body: String(error), retryAfter: undefined })) : { status: 0, body: "offline", retryAfter: undefined };
      this.reports++;
      if (answer.status === 204) return true;
      this.#fail(`report ${answer.status}: ${answer.body.slice(0, 100)}`);
      await sleep(Math.min(8000, 500 * 2 ** attempt) * Math.random());
    }
    return false;
  }
}

/**
 * Times `GET /api/system/status` every 250 ms (one at a time): when the server's event loop is
 * held up, this waits too, whatever the heartbeats do.
 */
function startApiProbe(port: number, ca: Buffer): { stop(): Promise<ReturnType<LatencySamples["summary"]>> } {
  const samples = new LatencySamples();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      await httpsJson({ port, ca, method: "GET", path: "/api/system/status" }).catch(() => undefined);
      samples.add(performance.now() - started);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples.summary();
    },
  };
}

/**
 * Seconds the server's threads spent runnable but waiting for a CPU (`/proc/PID/task/TID/schedstat`,
 * second field): on a shared machine, the time the scheduler did not give it.
 */
function runQueueWaitSeconds(pid: number): number {
  let nanoseconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return nanoseconds / 1e9;
}

async function api(port: number, ca: Buffer, jwt: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await httpsJson({ port, ca, jwt, method, path, ...(body === undefined ? {} : { body }) });
  if (answer.status !== 200 && answer.status !== 204) throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 400)}`);
  return answer.body;
}

async function waitFor(what: string, condition: () => boolean, deadline: number, report: () => string): Promise<void> {
  let last = 0;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what} (${report()})`);
    if (performance.now() - last > 2000) {
      last = performance.now();
      progress(`${what}: ${report()}`);
    }
    await sleep(50);
  }
}

const owned: { workDir?: string; server?: ServerProcess; fleet?: Fleet; devices?: SimulatedDevices } = {};

async function cleanUp(): Promise<void> {
  owned.devices?.stop();
  owned.fleet?.stop();
  await owned.server?.stop();
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  owned.workDir = undefined;
}

const ms = (n: number) => (Number.isNaN(n) ? "-" : `${n.toFixed(1)} ms`);
const s = (n: number) => (Number.isNaN(n) ? "-" : `${n.toFixed(2)} s`);

async function run(options: Options): Promise<string> {
  const deadline = performance.now() + options.timeoutSeconds * 1000;
  const workDir = mkdtempSync(join(tmpdir(), "pier-stack-rollout-"));
  owned.workDir = workDir;
  progress(`issuing ${options.agents} client certificates`);
  const pki = await createFleetPki(join(workDir, "pki"), options.agents, `stacks-${randomBytes(3).toString("hex")}`);
  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(workDir, "admin-password");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const dataDir = join(workDir, "data");
  progress("starting pier server");
  // BENCH_SERVER_NODE_OPTIONS: the server's own NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
  const serverNodeOptions = process.env["BENCH_SERVER_NODE_OPTIONS"];
  const server = await ServerProcess.spawn({ repoRoot, dataDir, adminPasswordFile: passwordFile, mtls: pki.files, ...(serverNodeOptions ? { nodeOptions: serverNodeOptions } : {}) });
  owned.server = server;
  await server.ready(30_000, AbortSignal.timeout(60_000));
  const ca = readFileSync(join(dataDir, "ca", "ca.crt"));
  await configureFleetSettings({ port: server.httpsPort, ca, password, intervalSeconds: options.intervalSeconds });
  const login = await httpsJson({ port: server.httpsPort, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: password } });
  const jwt = (login.body as { jwt: string }).jwt;
  const call = (method: string, path: string, body?: unknown) => api(server.httpsPort, ca, jwt, method, path, body);

  // The devices reach their sessions through the fleet, which calls them back.
  const devices = new SimulatedDevices(options.agents, () => owned.fleet, options.deployDelaySeconds * 1000);
  owned.devices = devices;
  const rampMs = options.rampSeconds * 1000;
  const fleet = new Fleet({
    identities: pki.agents,
    // One loopback address per device, as devices on their own networks: new devices may enroll
    // at 10 a minute per address.
    target: (index) => ({ port: server.tunnelPort, ca: pki.caPem, timeoutMs: 15_000, localAddress: `127.2.${(index >> 8) & 255}.${index & 255}` }),
    intervalMs: options.intervalSeconds * 1000,
    rampMs,
    // Under load new devices may be told to retry (enrollment limits): they retry until the run ends.
    retryUntil: deadline,
    onDesiredStateVersion: (index, version) => devices.told(index, version),
  });
  owned.fleet = fleet;
  progress(`connecting ${options.agents} agents over ${options.rampSeconds} s`);
  fleet.start();
  await waitFor("the fleet to connect", () => fleet.connected === fleet.size, deadline, () => `connected ${fleet.connected}/${fleet.size}; connect failures ${JSON.stringify(fleet.connectFailures.entries().slice(0, 3))}`);

  // Every device in one static group; each then holds its (empty) desired state.
  const environments = (await call("GET", "/api/endpoints")) as { Id: number; UserTrusted?: boolean }[];
  const ids = environments.map((e) => e.Id);
  if (ids.length < options.agents) throw new Error(`GET /api/endpoints lists ${ids.length} environments, expected ${options.agents}`);
  const group = (await call("POST", "/api/edge_groups", { Name: "bench-all", Dynamic: false, TagIDs: [], Endpoints: ids, PartialMatch: false })) as { Id: number };
  // An empty desired state may carry no version: quiet for two intervals counts as settled.
  let quietSince = performance.now();
  let lastFetches = -1;
  await waitFor(
    "every device told a version to hold it",
    () => {
      if (devices.fetches !== lastFetches || devices.settled !== devices.informed) [quietSince, lastFetches] = [performance.now(), devices.fetches];
      return performance.now() - quietSince > 2 * options.intervalSeconds * 1000;
    },
    deadline,
    () => `${devices.settled}/${devices.informed} settled, ${devices.fetches} fetches`,
  );

  progress(`baseline: heartbeats for ${options.baselineSeconds} s`);
  const baseline = fleet.beginWindow();
  await sleep(options.baselineSeconds * 1000);
  fleet.endWindow(baseline);

  progress("creating the stack");
  const lag = startLagProbe();
  const apiProbe = startApiProbe(server.httpsPort, ca);
  const during = fleet.beginWindow();
  const cpuBefore = sampleProcess(server.pid);
  const waitBefore = runQueueWaitSeconds(server.pid);
  const created = performance.now();
  const fetchesBefore = devices.fetches;
  devices.watchedStack = "bench-web";
  const stack = (await call("POST", "/api/edge_stacks/create/string", { name: "bench-web", stackFileContent: composeFile, edgeGroups: [group.Id], deploymentType: 0 })) as { Id: number };
  const answered = performance.now();
  await waitFor("every device to run the stack", () => devices.running.count === options.agents, deadline, () => `fetched ${devices.fetched.count}, acknowledged ${devices.acknowledged.count}, running ${devices.running.count} of ${options.agents}`);
  const finished = performance.now();
  const cpuAfter = sampleProcess(server.pid);
  const waited = runQueueWaitSeconds(server.pid) - waitBefore;
  fleet.endWindow(during);
  const lagDuring = lag.stop();
  const apiDuring = await apiProbe.stop();
  // Acks of heartbeats sent in the window.
  await sleep(2000);

  const view = (await call("GET", `/api/edge_stacks/${stack.Id}`)) as { Status?: Record<string, { Status?: { Type: number }[] }> };
  const statuses = Object.values(view.Status ?? {});
  const runningOnServer = statuses.filter((entry) => entry.Status?.some((t) => t.Type === edgeStackStatusTypes.running)).length;

  const b = baseline.latencies.summary();
  const d = during.latencies.summary();
  const spanSeconds = (finished - created) / 1000;
  const cpuSeconds = cpuAfter.cpuSeconds - cpuBefore.cpuSeconds;
  const f = devices.fetched.summary(created);
  const a = devices.acknowledged.summary(created);
  const r = devices.running.summary(created);
  const lines = [
    `edge stack rollout: ${options.agents} simulated devices, check-in interval ${options.intervalSeconds} s, simulated deployment ${options.deployDelaySeconds} s ± 50 %`,
    `machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}`,
    `POST /api/edge_stacks/create/string answered in ${ms(answered - created)}`,
    `desired state fetched:   all ${s(f.last)}  (p50 ${s(f.p50)}, p99 ${s(f.p99)}), ${devices.fetches - fetchesBefore} fetches`,
    `acknowledged (stored):   all ${s(a.last)}  (p50 ${s(a.p50)}, p99 ${s(a.p99)})`,
    `running (stored):        all ${s(r.last)}  (p50 ${s(r.p50)}, p99 ${s(r.p99)})`,
    `server CPU from creation to all running: ${cpuSeconds.toFixed(2)} s over ${spanSeconds.toFixed(1)} s = ${((100 * cpuSeconds) / spanSeconds).toFixed(1)} % of a core (main thread ${((cpuAfter.threadSeconds.get("main") ?? 0) - (cpuBefore.threadSeconds.get("main") ?? 0)).toFixed(2)} s); RSS ${(cpuAfter.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    `server threads runnable but waiting for a CPU meanwhile: ${waited.toFixed(2)} s (load average ${loadavg()[0]?.toFixed(1) ?? "?"})`,
    `simulator's own timer lag meanwhile: p99 ${ms(lagDuring.p99)}, max ${ms(lagDuring.max)} (it shares the machine)`,
    `GET /api/system/status meanwhile (one every 250 ms): p50 ${ms(apiDuring.p50)}, p99 ${ms(apiDuring.p99)}, max ${ms(apiDuring.max)} (${apiDuring.count} calls)`,
    `heartbeat latency before: p50 ${ms(b.p50)}, p99 ${ms(b.p99)}, max ${ms(b.max)} (${b.count} check-ins)`,
    `heartbeat latency during: p50 ${ms(d.p50)}, p99 ${ms(d.p99)}, max ${ms(d.max)} (${d.count} check-ins)`,
    `server's view: Status of ${statuses.length} environments, ${runningOnServer} with Running (7)`,
    `reports posted ${devices.reports}; refused or failed: ${devices.failures.size === 0 ? "none" : JSON.stringify(Object.fromEntries(devices.failures))}`,
    `command: npx node bench/edge-stack-rollout.ts --agents ${options.agents} --interval ${options.intervalSeconds} --deploy-delay ${options.deployDelaySeconds} --ramp ${options.rampSeconds} --baseline ${options.baselineSeconds}`,
  ];
  return lines.join("\n");
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  process.on("SIGINT", () => void cleanUp().then(() => process.exit(130)));
  process.on("exit", () => {
    owned.server?.killNow();
    if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  });
  try {
    console.log(await run(options));
    return 0;
  } catch (error) {
    console.error(`edge stack benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
    const output = owned.server?.output().trim();
    if (output) console.error(`server printed (last lines):\n${output.split("\n").slice(-15).join("\n")}`);
    return 1;
  } finally {
    await cleanUp();
  }
}

process.exitCode = await main();
setTimeout(() => process.exit(), 5_000).unref();
