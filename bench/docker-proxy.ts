/**
 * Benchmark: the Docker Engine API through Pier (server + tunnel + agent) against the same
 * call on the local socket, in one run.
 *
 *   npx node bench/docker-proxy.ts [--requests 300]
 *
 * Starts a real `pier server` and `pier agent` on loopback (needs a running Docker Engine:
 * `bash scripts/ensure-docker.sh`), associates the device, then times sequential
 *   - GET /containers/json directly on /var/run/docker.sock, and through
 *     /api/endpoints/{id}/docker/containers/json;
 *   - GET /_ping through Pier: each proxied request opens its own tunnel stream, so this is the
 *     time from an API request for an idle device to its tunnel answering, once with the default
 *     5 s check-in interval and once with 60 s (the tunnel is pushed, not picked up at check-in);
 *   - stream throughput, best of three each, directly and through Pier: a container's --log-mb
 *     MiB of logs (default 64, short lines: many small writes), and the export of an image with a
 *     layer of as many random bytes (`GET /images/{name}/get`: bulk);
 *   - the agent process's RSS and CPU while connected and idle (--idle seconds, default 30),
 *     right after it connected, and its RSS again after the streams above went through it;
 *     in the same window, two more associated agents run from the JavaScript bundle
 *     (scripts/build-bundle.ts), once plain and once with V8's small-footprint flags, the way a
 *     memory-tight device runs it.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildBundle, footprintFlags } from "../scripts/build-bundle.ts";
import { PierApi, bash, docker, startPierAgent, startPierServer, tempDir, testImage } from "@pier/e2e";

const { values } = parseArgs({ options: { requests: { type: "string", default: "300" }, idle: { type: "string", default: "30" }, "log-mb": { type: "string", default: "64" } } });
const count = Number(values.requests);
const idleSeconds = Number(values.idle);
const logMiB = Number(values["log-mb"]);

/**
 * utime + stime of a process in seconds, and its resident set in MiB from /proc: in all, and
 * split into private (anonymous) pages and file-backed ones (mostly the Node binary's, shared
 * and reclaimable).
 */
function processUsage(pid: number): { cpuSeconds: number; rssMiB: number; anonMiB: number; fileMiB: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (proc(5)); 100 ticks per second on Linux
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
  return { cpuSeconds: ticks / 100, rssMiB: kib("VmRSS"), anonMiB: kib("RssAnon"), fileMiB: kib("RssFile") };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p90 ${percentile(sorted, 90).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`;
}

async function time(times: number, call: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await call();
    samples.push(performance.now() - started);
  }
  return samples;
}

function drain(res: IncomingMessage, resolve: (bytes: number) => void, reject: (error: Error) => void): void {
  if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
  let bytes = 0;
  res.on("data", (chunk: Buffer) => (bytes += chunk.length));
  res.on("end", () => resolve(bytes));
}

/** Best MiB/s of `runs` reads of a whole response. */
async function throughput(runs: number, read: () => Promise<number>): Promise<{ mibPerSecond: number; bytes: number }> {
  let best = 0;
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    bytes = await read();
    best = Math.max(best, bytes / 1024 / 1024 / ((performance.now() - started) / 1000));
  }
  return { mibPerSecond: best, bytes };
}

await using dir = tempDir("bench-docker-proxy");
const password = "benchmark password 1";
writeFileSync(dir.file("pw"), `${password}\n`, { mode: 0o600 });
await using server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("pw")] });
const ca = readFileSync(dir.file("data/ca/ca.crt"));
const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca });
await api.login("admin", password);
const login = await api.call<{ jwt: string }>("POST", "/api/auth", { Username: "admin", Password: password });
const bundle = await buildBundle(dir.file("bundle"));
const agentRuns = [
  { label: "TypeScript sources (pier agent)", command: undefined },
  { label: "bundle (node dist/pier/main.cjs agent)", command: [process.execPath, bundle] },
  { label: `bundle with ${footprintFlags.join(" ")}`, command: [process.execPath, ...footprintFlags, bundle] },
];
await using running = new AsyncDisposableStack();
const agents = [];
for (const [index, run] of agentRuns.entries()) {
  const started = startPierAgent({ edgeId: `bench-docker-${index}`, edgeKey: server.edgeKey, dataDir: dir.file(`agent-${index}`), ...(run.command === undefined ? {} : { command: run.command }) });
  running.use(started);
  const [, environment = ""] = await started.waitFor(/as environment (\d+)/);
  await api.call("POST", `/api/endpoints/${environment}/edge/trust`);
  await started.waitFor(/associated/);
  agents.push({ ...run, process: started, pid: started.process.pid ?? 0, environment });
}
// The proxy measurements below go through the first agent (the TypeScript sources).
const { process: agent, environment: id, pid: agentPid } = agents[0]!;

// The footprint of devices that are connected and have nothing to do, measured first.
await new Promise((resolve) => setTimeout(resolve, 2000));
const idleStarts = agents.map((a) => processUsage(a.pid));
await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
const idle = agents.map((a, index) => {
  const usage = processUsage(a.pid);
  return { label: a.label, ...usage, cpuPercent: ((usage.cpuSeconds - idleStarts[index]!.cpuSeconds) / idleSeconds) * 100 };
});

const keepAlive = new Agent({ keepAlive: true, ca });
const viaPier = (path: string) => () =>
  new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: "localhost", port: server.httpsPort, path: `/api/endpoints/${id}/docker${path}`, agent: keepAlive, headers: { authorization: `Bearer ${login.body.jwt}` } }, (res) => drain(res, resolve, reject));
    req.on("error", reject);
    req.end();
  });
const direct = (path: string) => () =>
  new Promise<number>((resolve, reject) => {
    const req = httpRequest({ socketPath: "/var/run/docker.sock", path }, (res) => drain(res, resolve, reject));
    req.on("error", reject);
    req.end();
  });

await time(20, viaPier("/containers/json")); // warm-up: TLS, JIT
await time(20, direct("/containers/json"));
const directList = await time(count, direct("/containers/json"));
const proxiedList = await time(count, viaPier("/containers/json"));
const ping = await time(count, viaPier("/_ping"));
const median = (s: number[]) => percentile([...s].sort((a, b) => a - b), 50);

await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 60 });
await agent.waitFor(/check-in interval is now 60 s/);
const pingSlowCheckIn = await time(count, viaPier("/_ping"));
await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 5 });

// Logs written before the measurement, so both reads stream the same stored bytes.
const logContainer = docker(["run", "-d", testImage, "/bin/busybox", "sh", "-c", `/bin/busybox yes 'pier log line 0123456789 abcdefghijklmnopqrstuvwxyz' | /bin/busybox head -c ${logMiB * 1024 * 1024}`]);
docker(["wait", logContainer]);
const logsPath = `/containers/${logContainer}/logs?stdout=1`;
const directLogs = await throughput(3, direct(logsPath));
const proxiedLogs = await throughput(3, viaPier(logsPath));
docker(["rm", "-f", logContainer]);

const bulkImage = `pier-bench/bulk:${process.pid}`;
mkdirSync(dir.file("layer"));
writeFileSync(dir.file("layer/random.bin"), randomBytes(logMiB * 1024 * 1024));
if (bash(`tar -C ${dir.file("layer")} -c . | docker import - ${bulkImage}`).status !== 0) throw new Error("docker import failed");
const exportPath = `/images/${bulkImage}/get`;
const directExport = await throughput(3, direct(exportPath));
const proxiedExport = await throughput(3, viaPier(exportPath));
docker(["rmi", bulkImage]);
const rate = (direct: { mibPerSecond: number }, proxied: { mibPerSecond: number }) =>
  `direct ${direct.mibPerSecond.toFixed(0)} MiB/s, through Pier ${proxied.mibPerSecond.toFixed(0)} MiB/s (${((proxied.mibPerSecond / direct.mibPerSecond) * 100).toFixed(0)} %)`;

console.log(`Docker Engine API through Pier (${count} sequential requests each, loopback)`);
console.log(`  GET /containers/json, direct socket:  ${summary(directList)}`);
console.log(`  GET /containers/json, through Pier:   ${summary(proxiedList)}`);
console.log(`  overhead at p50:                      ${(median(proxiedList) - median(directList)).toFixed(2)} ms  (target < 5 ms)`);
console.log("  GET /_ping through Pier (a new tunnel per request, pushed to an idle device; target p99 < 500 ms):");
console.log(`    check-in interval  5 s: ${summary(ping)}`);
console.log(`    check-in interval 60 s: ${summary(pingSlowCheckIn)}`);
console.log(`  logs of a container (${(directLogs.bytes / 1024 / 1024).toFixed(0)} MiB, short lines), best of 3: ${rate(directLogs, proxiedLogs)}`);
console.log(`  image export (${(directExport.bytes / 1024 / 1024).toFixed(0)} MiB, bulk), best of 3:        ${rate(directExport, proxiedExport)}`);
keepAlive.destroy();

console.log(`  agents, connected and idle for ${idleSeconds} s (targets: RSS < 60 MB, CPU < 0.5 % of a core):`);
for (const a of idle) {
  console.log(`    ${a.label.padEnd(50)} RSS ${a.rssMiB.toFixed(1)} MiB (private ${a.anonMiB.toFixed(1)}, file-backed ${a.fileMiB.toFixed(1)}), CPU ${a.cpuPercent.toFixed(2)} %`);
}
console.log(`  agent RSS after the streams above (TypeScript sources): ${processUsage(agentPid).rssMiB.toFixed(1)} MiB`);
