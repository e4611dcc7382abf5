/**
 * Benchmark: full mTLS handshakes per second, Pier's edge listener against nginx, in the same
 * run (issue 20: "Full mTLS handshakes stay at or above nginx's rate").
 *
 *   npm run bench:handshakes -- [--concurrency 32] [--clients 2] [--duration 10] [--rounds 3]
 *                               [--warmup 3] [--nginx /usr/sbin/nginx] [--server-cpu-prof DIR]
 *                               [--http2] [--bare-node] [--client-cpu-prof DIR] [--json FILE]
 *
 * One PKI (bench/fleet/fleet-pki.ts: a CA, a server certificate for localhost and a client
 * certificate per connection slot, all ECDSA P-256) serves both servers: a real `pier server`
 * whose tunnel listener requires client certificates from that CA (`--mtlscacert/--mtlscert/
 * --mtlskey`), and nginx from a prefix directory of its own (handshakes/nginx-process.ts: one
 * worker, since Node's TLS runs on one thread; `ssl_verify_client on`; the same certificate, key,
 * TLS versions, AEAD suites, curves and suite order as Pier's profile). Both servers issue TLS
 * session tickets, as configured by default; no client ever offers one back.
 *
 * The load generator (handshakes/handshake-client.ts, --clients processes, --concurrency slots
 * in all, each from its own loopback address) is the same for both. A slot dials, makes a full
 * handshake with its certificate, sends `GET /handshake` (HTTP/1.1, `Connection: close`), reads
 * the status line, drops the connection and dials again. **What counts as a handshake**: the
 * client verified the server's certificate (chain and name: Node's `rejectUnauthorized`) and
 * the server answered the status it gives only to a verified client certificate: Pier its
 * tunnel port's 404 (the listener requires a certificate, so its request handler never runs
 * for a connection without a verified one), nginx the 200 of `return 200`. Handshake completion
 * alone proves nothing about the client certificate: in TLS 1.3 the client finishes before the
 * server has checked it (a Node server refusing a certificate from another CA: the client sees
 * `secureConnect`, then the connection closes), and nginx completes the handshake even for a
 * certificate that fails, then answers 400. The one request costs the servers a little on top of
 * the handshake (nginx parses HTTP in C; Pier runs Node's HTTP/1.1 server and its handler). Before
 * measuring, one connection without a client certificate must be refused by each server (else
 * the run stops: it would measure the wrong thing).
 *
 * The run warms each server up (--warmup s), then measures --rounds rounds of --duration s per
 * server, alternating (Pier, nginx; then nginx, Pier; …), so a change in the machine's load hits
 * both alike. For each: handshakes/s, the server's CPU per handshake (/proc/PID/stat: Pier's
 * process; nginx's worker), the share of one core it used (near 100 %: the server is the
 * bottleneck; well below: the clients or the machine are), and the client processes' CPU. Run it
 * under `flock /tmp/pier-bench.lock` on a shared machine. Exit code 0 whatever the figures; 1
 * when the run could not be set up; 2 for a bad option; 130 when interrupted.
 *
 * --http2: the clients offer `h2` in ALPN and send their request over HTTP/2 (handshakes/
 * http-exchange.ts), as agents do: the servers also set up an HTTP/2 session per connection.
 *
 * --bare-node adds a third server to the rounds: bare Node (handshakes/bare-node-server.ts, a
 * `tls.Server` with the same profile, certificates and client CA that answers a fixed 404, or
 * with --http2 Node's own HTTP/2 server answering 404), the floor of Node's TLS and HTTP/2: what
 * Pier spends above it per handshake is Pier's own.
 *
 * --server-cpu-prof DIR runs Pier with --cpu-prof --cpu-prof-dir=DIR (written when it stops), and
 * the bare Node server (--bare-node) likewise into DIR/bare-node;
 * --client-cpu-prof DIR the client processes likewise.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { freeLoopbackPort } from "@pier/e2e";
import { tlsProfile } from "@pier/pki";
import { runBenchmark } from "./fleet/benchmark-process.ts";
import { createFleetPki } from "./fleet/fleet-pki.ts";
import { numberOption } from "./fleet/options.ts";
import { ScriptProcess } from "./fleet/script-process.ts";
import { ServerProcess, sampleProcess } from "./fleet/server-process.ts";
import type { ClientSlot, HandshakeTarget, TargetCounts } from "./handshakes/handshake-client.ts";
import { HandshakeLoad, countsSince } from "./handshakes/handshake-load.ts";
import { NginxProcess } from "./handshakes/nginx-process.ts";

const usage = "Usage: npm run bench:handshakes -- [--concurrency 32] [--clients 2] [--duration 10] [--rounds 3] [--warmup 3] [--nginx /usr/sbin/nginx] [--http2] [--bare-node] [--server-cpu-prof DIR] [--client-cpu-prof DIR] [--json FILE]";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** After aiming the load at the other server: time for the connections under way to end. */
const settleMs = 500;
/** A connection that has not got its status line by then counts as failed (`timeout`). */
const connectionTimeoutMs = 10_000;

interface Options {
  readonly concurrency: number;
  readonly clients: number;
  readonly durationSeconds: number;
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly nginx: string;
  readonly bareNode: boolean;
  readonly http2: boolean;
  readonly serverCpuProfDir?: string;
  readonly clientCpuProfDir?: string;
  readonly jsonFile?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: "string", default: "32" },
      clients: { type: "string", default: "2" },
      duration: { type: "string", default: "10" },
      rounds: { type: "string", default: "3" },
      warmup: { type: "string", default: "3" },
      nginx: { type: "string", default: "/usr/sbin/nginx" },
      "bare-node": { type: "boolean", default: false },
      http2: { type: "boolean", default: false },
      "server-cpu-prof": { type: "string" },
      "client-cpu-prof": { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const number = numberOption(usage);
  const concurrency = number("concurrency", values.concurrency, (n) => Number.isInteger(n) && n >= 1 && n <= 1000, "an integer from 1 to 1000");
  return {
    concurrency,
    clients: number("clients", values.clients, (n) => Number.isInteger(n) && n >= 1 && n <= 16 && n <= concurrency, "an integer from 1 to 16, at most --concurrency"),
    durationSeconds: number("duration", values.duration, (n) => n >= 0.5 && n <= 600, "a number of seconds from 0.5 to 600"),
    rounds: number("rounds", values.rounds, (n) => Number.isInteger(n) && n >= 1 && n <= 20, "an integer from 1 to 20"),
    warmupSeconds: number("warmup", values.warmup, (n) => n >= 0 && n <= 60, "a number of seconds from 0 to 60"),
    nginx: resolve(values.nginx),
    bareNode: values["bare-node"],
    http2: values.http2,
    ...(values["server-cpu-prof"] ? { serverCpuProfDir: resolve(values["server-cpu-prof"]) } : {}),
    ...(values["client-cpu-prof"] ? { clientCpuProfDir: resolve(values["client-cpu-prof"]) } : {}),
    ...(values.json ? { jsonFile: resolve(values.json) } : {}),
  };
}

function progress(message: string): void {
  process.stderr.write(`[handshakes] ${message}\n`);
}

/** Slot `index`'s loopback source address: 127.5.0.1 and up, apart from the fleet benchmarks' 127.3.x.y. */
function slotAddress(index: number): string {
  return `127.5.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

/**
 * What a server does with a client that shows no certificate: `HTTP 400` (nginx), a TLS alert's
 * error code (Pier), or how the connection ended otherwise.
 */
function withoutCertificate(port: number, caPem: string): Promise<string> {
  return new Promise((resolve) => {
    let head = "";
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: caPem, ...tlsProfile, ALPNProtocols: ["http/1.1"] });
    const end = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => end("no answer within 10 s"), 10_000);
    socket.once("secureConnect", () => socket.write("GET /handshake HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      if (status) end(`HTTP ${status}`);
    });
    socket.on("error", (error: NodeJS.ErrnoException) => end(error.code ?? error.message));
    socket.on("close", () => end("closed without an answer"));
  });
}

/** Starts handshakes/bare-node-server.ts on `port` and resolves once it listens. */
function startBareNode(port: number, files: { readonly caCertificate: string; readonly serverCertificate: string; readonly serverKey: string }, kind: "tls" | "http2", profileDir: string | undefined, signal: AbortSignal): Promise<ScriptProcess> {
  const env = { ...process.env };
  delete env["NODE_OPTIONS"];
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, "bare-node")}`] : [];
  const args = [...profile, join(repoRoot, "bench", "handshakes", "bare-node-server.ts"), String(port), files.caCertificate, files.serverCertificate, files.serverKey, kind];
  return ScriptProcess.start({ name: "bare-node-server.ts", command: process.execPath, args, env, signal, onSpawn: (bare) => (owned.bareNode = bare) });
}

/** One server as the benchmark sees it: where to dial, what it answers, whose CPU to read. */
interface Contender {
  readonly target: HandshakeTarget;
  /** CPU seconds (user + system) so far of the processes that do its TLS. */
  readonly cpuSeconds: () => number;
}

/** One measured window against one server. */
interface Window {
  readonly name: string;
  readonly round: number;
  readonly seconds: number;
  readonly counts: TargetCounts;
  readonly serverCpuSeconds: number;
  readonly clientCpuSeconds: number;
}

/** Resources the run owns; released however it ends. */
const owned: { workDir?: string; server?: ServerProcess; nginx?: NginxProcess; bareNode?: ScriptProcess; load?: HandshakeLoad } = {};

async function cleanUp(): Promise<void> {
  await owned.load?.stop();
  owned.load = undefined;
  await owned.nginx?.stop();
  await owned.server?.stop();
  await owned.bareNode?.stop(5_000);
  owned.bareNode = undefined;
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
  owned.workDir = undefined;
}

async function measure(load: HandshakeLoad, contender: Contender, round: number, seconds: number, signal: AbortSignal): Promise<Window> {
  load.aim(contender.target);
  await sleep(settleMs, undefined, { signal });
  const clientCpu = () => load.pids.reduce((sum, pid) => sum + sampleProcess(pid).cpuSeconds, 0);
  const before = (await load.snapshot()).get(contender.target.name);
  const serverBefore = contender.cpuSeconds();
  const clientsBefore = clientCpu();
  const started = performance.now();
  await sleep(seconds * 1000, undefined, { signal });
  const after = (await load.snapshot()).get(contender.target.name);
  const elapsed = (performance.now() - started) / 1000;
  return { name: contender.target.name, round, seconds: elapsed, counts: countsSince(before, after), serverCpuSeconds: contender.cpuSeconds() - serverBefore, clientCpuSeconds: clientCpu() - clientsBefore };
}

/** The totals of one server over every round. */
interface Total {
  readonly name: string;
  readonly handshakes: number;
  readonly seconds: number;
  readonly rate: number;
  readonly serverMsPerHandshake: number;
  readonly serverCoreShare: number;
  readonly clientMsPerHandshake: number;
  readonly clientCoreShare: number;
  readonly failures: Record<string, number>;
  readonly ticketsPerHandshake: number;
  readonly negotiated: string;
  readonly roundRates: number[];
}

function total(name: string, windows: readonly Window[]): Total {
  const mine = windows.filter((window) => window.name === name);
  const handshakes = mine.reduce((sum, window) => sum + window.counts.completed, 0);
  const seconds = mine.reduce((sum, window) => sum + window.seconds, 0);
  const serverCpu = mine.reduce((sum, window) => sum + window.serverCpuSeconds, 0);
  const clientCpu = mine.reduce((sum, window) => sum + window.clientCpuSeconds, 0);
  const failures: Record<string, number> = {};
  for (const window of mine) for (const [reason, count] of Object.entries(window.counts.failures)) failures[reason] = (failures[reason] ?? 0) + count;
  const perHandshake = (cpuSeconds: number) => (handshakes > 0 ? (cpuSeconds * 1000) / handshakes : Number.NaN);
  return {
    name,
    handshakes,
    seconds,
    rate: handshakes / seconds,
    serverMsPerHandshake: perHandshake(serverCpu),
    serverCoreShare: serverCpu / seconds,
    clientMsPerHandshake: perHandshake(clientCpu),
    clientCoreShare: clientCpu / seconds,
    failures,
    ticketsPerHandshake: handshakes > 0 ? mine.reduce((sum, window) => sum + window.counts.tickets, 0) / handshakes : 0,
    negotiated: mine.find((window) => window.counts.negotiated)?.counts.negotiated ?? "no handshake",
    roundRates: mine.map((window) => window.counts.completed / window.seconds),
  };
}

/** The commit the run measured, with a mark when the tree differs from it. */
function commit(): string {
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim() || "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--", "packages", "bench"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim() !== "";
  return dirty ? `${head} + uncommitted changes` : head;
}

const rate = (value: number) => value.toFixed(1);
const share = (value: number) => `${(value * 100).toFixed(0)} %`;
const msText = (value: number) => (Number.isNaN(value) ? "n/a" : value.toFixed(2));
const failureText = (failures: Record<string, number>) => {
  const entries = Object.entries(failures).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "0" : entries.map(([reason, count]) => `${count}× ${reason}`).join(", ");
};

async function run(options: Options, signal: AbortSignal): Promise<string[]> {
  const workDir = mkdtempSync(join(tmpdir(), "pier-handshakes-"));
  owned.workDir = workDir;
  const load0 = loadavg()[0] ?? 0;
  progress(`issuing a CA, a server certificate and ${options.concurrency} client certificates`);
  const pki = await createFleetPki(join(workDir, "pki"), options.concurrency, `handshake-${randomBytes(3).toString("hex")}`);
  const caPem = pki.caPem.toString();

  const passwordFile = join(workDir, "admin-password");
  writeFileSync(passwordFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  if (options.serverCpuProfDir) mkdirSync(options.serverCpuProfDir, { recursive: true });
  progress("starting pier server");
  const server = await ServerProcess.spawn({
    repoRoot,
    dataDir: join(workDir, "data"),
    adminPasswordFile: passwordFile,
    mtls: pki.files,
    ...(options.serverCpuProfDir ? { nodeOptions: `--cpu-prof --cpu-prof-dir=${options.serverCpuProfDir}` } : {}),
  });
  owned.server = server;
  progress("starting nginx");
  owned.nginx = await NginxProcess.start({ binary: options.nginx, dir: join(workDir, "nginx"), port: await freeLoopbackPort(), files: pki.files }, signal);
  const nginx = owned.nginx;
  await server.ready(60_000, signal);
  const nginxWorkers = nginx.workerPids();
  progress(`pier server pid ${server.pid} (tunnel listener 127.0.0.1:${server.tunnelPort}); nginx master ${nginx.pid}, worker ${nginxWorkers.join(", ")} (127.0.0.1:${nginx.port})`);

  const contenders: Contender[] = [
    { target: { name: "pier", port: server.tunnelPort, expectedStatus: 404 }, cpuSeconds: () => sampleProcess(server.pid).cpuSeconds },
    { target: { name: "nginx", port: nginx.port, expectedStatus: 200 }, cpuSeconds: () => nginxWorkers.reduce((sum, pid) => sum + sampleProcess(pid).cpuSeconds, 0) },
  ];
  if (options.bareNode) {
    const port = await freeLoopbackPort();
    const bare = await startBareNode(port, pki.files, options.http2 ? "http2" : "tls", options.serverCpuProfDir, signal);
    const pid = bare.pid;
    progress(`bare Node TLS server pid ${pid} (127.0.0.1:${port})`);
    contenders.push({ target: { name: "node", port, expectedStatus: 404 }, cpuSeconds: () => sampleProcess(pid).cpuSeconds });
  }
  const refusals: string[] = [];
  for (const { target } of contenders) {
    const outcome = await withoutCertificate(target.port, caPem);
    if (outcome === `HTTP ${target.expectedStatus}`) throw new Error(`${target.name} answered ${outcome} to a client without a certificate: it does not require one, so this run would not measure mTLS handshakes.`);
    refusals.push(`${target.name} (${outcome})`);
  }

  const slots: ClientSlot[] = pki.agents.map((agent, index) => ({ localAddress: slotAddress(index), certificatePem: agent.certificatePem, keyPem: agent.keyPem }));
  if (options.clientCpuProfDir) mkdirSync(options.clientCpuProfDir, { recursive: true });
  owned.load = HandshakeLoad.start({ processes: options.clients, slots, caPem, timeoutMs: connectionTimeoutMs, http: options.http2 ? "h2" : "http/1.1", ...(options.clientCpuProfDir ? { cpuProfDir: options.clientCpuProfDir } : {}) });
  const load = owned.load;
  if (options.warmupSeconds > 0) {
    for (const contender of contenders) {
      progress(`warming up ${contender.target.name} for ${options.warmupSeconds} s`);
      load.aim(contender.target);
      await sleep(options.warmupSeconds * 1000, undefined, { signal });
    }
  }
  const windows: Window[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 === 1 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      progress(`round ${round}/${options.rounds}: ${contender.target.name} for ${options.durationSeconds} s`);
      const window = await measure(load, contender, round, options.durationSeconds, signal);
      windows.push(window);
      progress(`  ${window.counts.completed} handshakes = ${rate(window.counts.completed / window.seconds)}/s, server ${share(window.serverCpuSeconds / window.seconds)} of a core, failures ${failureText(window.counts.failures)}`);
    }
  }
  load.aim(undefined);
  const pier = total("pier", windows);
  const other = total("nginx", windows);
  const bare = options.bareNode ? total("node", windows) : undefined;
  const totals = bare ? [pier, other, bare] : [pier, other];
  const ratio = pier.rate / other.rate;
  const line = (t: Total) =>
    `${t.name.padEnd(8)} ${t.handshakes} handshakes in ${t.seconds.toFixed(1)} s = ${rate(t.rate)}/s; server ${msText(t.serverMsPerHandshake)} ms CPU per handshake (${share(t.serverCoreShare)} of one core); clients ${msText(t.clientMsPerHandshake)} ms per handshake (${share(t.clientCoreShare)} of a core); failures ${failureText(t.failures)}`;
  const lines = [
    `mTLS handshakes, full (no resumption), then one ${options.http2 ? "HTTP/2" : "HTTP/1.1"} request, Pier vs nginx: ${options.rounds} round(s) × ${options.durationSeconds} s per server after ${options.warmupSeconds} s of warm-up, ${options.concurrency} connections at a time from ${options.clients} client process(es); commit ${commit()}`,
    `machine  ${cpus().length} CPUs, load average ${load0.toFixed(2)} at the start, ${(loadavg()[0] ?? 0).toFixed(2)} at the end; Pier on Node ${process.versions.node} with OpenSSL ${process.versions.openssl}; ${NginxProcess.version(options.nginx)}`,
    `checked  without a client certificate: ${refusals.join(", ")}; negotiated: ${totals.map((t) => `${t.name} ${t.negotiated}`).join(", ")}; session tickets received per handshake (never used): ${totals.map((t) => `${t.name} ${t.ticketsPerHandshake.toFixed(1)}`).join(", ")}`,
    ...windows.map((window) => `  round ${window.round} ${window.name.padEnd(6)} ${rate(window.counts.completed / window.seconds)}/s, server ${msText(window.counts.completed > 0 ? (window.serverCpuSeconds * 1000) / window.counts.completed : Number.NaN)} ms per handshake`),
    ...totals.map(line),
    `ratio    Pier/nginx ${ratio.toFixed(2)}× the rate; server CPU per handshake Pier ${msText(pier.serverMsPerHandshake)} ms, nginx ${msText(other.serverMsPerHandshake)} ms (Pier ${(pier.serverMsPerHandshake / other.serverMsPerHandshake).toFixed(2)}× nginx's)`,
    ...(bare ? [`floor    bare Node ${msText(bare.serverMsPerHandshake)} ms CPU per handshake: Pier spends ${msText(pier.serverMsPerHandshake - bare.serverMsPerHandshake)} ms above it, nginx ${msText(other.serverMsPerHandshake - bare.serverMsPerHandshake)} ms`] : []),
    `target   issue 20, Pier's rate ≥ nginx's in the same run: ${Number.isFinite(ratio) && ratio >= 1 ? "met" : "missed"}`,
  ];
  if (options.jsonFile) {
    const json = { commit: commit(), options, refusals, pier, nginx: other, ...(bare ? { node: bare } : {}), ratio, windows };
    writeFileSync(options.jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  }
  return lines;
}

/** What the `exit` handler kills when the process ends before `cleanUp` could. */
function killNow(): void {
  owned.load?.killNow();
  owned.nginx?.killNow();
  owned.server?.killNow();
  owned.bareNode?.killNow();
  if (owned.workDir) rmSync(owned.workDir, { recursive: true, force: true });
}

process.exitCode = await runBenchmark({
  name: "handshake benchmark",
  parse: () => parseOptions(process.argv.slice(2)),
  budgetMs: (options) => 120_000 + (options.warmupSeconds * 3 + (options.durationSeconds + settleMs / 1000) * 3 * options.rounds) * 1000,
  run,
  cleanUp,
  killNow,
  progress,
});
setTimeout(() => process.exit(), 5_000).unref();
