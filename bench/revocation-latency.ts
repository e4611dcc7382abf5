/**
 * Benchmark: revocation latency with a connected fleet (docs/identity.md, "Revocation"). A real
 * `pier server` process with its built-in CA; N simulated agents in this process, each with its
 * own device certificate from that CA (CN = EDGE_ID, URI SAN spiffe://pier.local/edge/<id>),
 * connected over real mutual TLS to the tunnel listener and holding a session; then K devices are
 * revoked one by one through `POST /api/endpoints/{id}/certificate/revoke` and the time from the
 * API call to the device's session ending (its `refused {code: "revoked"}` frame or the
 * connection closing, whichever the agent sees first) is measured.
 *
 *   npx node bench/revocation-latency.ts [--agents 15000] [--revoke 50] [--ramp 60] [--interval 30]
 *
 * Set-up: the server starts once to create `DATA/ca`, stops; the certificates are signed in
 * memory (`deviceSigner`) and recorded with their environments straight in `pier.db` (zero-touch
 * enrollment of 15,000 devices through the waiting room is not what is measured); the server
 * starts again. Everything is removed at the end. Exit code 0 whatever the figures.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connectWithBackoff, createBuiltInCa, endBuiltInCaRun, provisionBuiltInCaDevices, runBuiltInCaBenchmark } from "./fleet/built-in-ca-fleet.ts";
import { LatencySamples, ReasonCounts } from "./fleet/latency-samples.ts";
import { httpsJson } from "./fleet/pier-admin.ts";
import { ServerProcess } from "./fleet/server-process.ts";
import { SimulatedAgent } from "./fleet/simulated-agent.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const password = "revocation benchmark password";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "15000" },
    revoke: { type: "string", default: "50" },
    ramp: { type: "string", default: "60" },
    interval: { type: "string", default: "30" },
  },
});
const agentCount = Number(values.agents);
const revokeCount = Math.min(Number(values.revoke), agentCount);
const rampMs = Number(values.ramp) * 1000;
const intervalSeconds = Number(values.interval);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pier-revocation-bench-"));
  const dataDir = join(dir, "data");
  const passwordFile = join(dir, "admin-password");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const serverOptions = { repoRoot, dataDir, adminPasswordFile: passwordFile, extraArgs: ["--max-connections", String(agentCount + 1000), "--max-connections-per-source", String(agentCount + 1000)] };
  let server: ServerProcess | undefined;
  const agents: SimulatedAgent[] = [];
  try {
    await createBuiltInCa(serverOptions);
    const provisionStarted = Date.now();
    const devices = await provisionBuiltInCaDevices({ dataDir, count: agentCount, edgeIdPrefix: "rev", lifetimeSeconds: 86_400, intervalSeconds });
    console.log(`provisioned ${agentCount} devices with built-in CA certificates in ${((Date.now() - provisionStarted) / 1000).toFixed(1)} s`);
    server = await ServerProcess.spawn(serverOptions);
    await server.ready(60_000, AbortSignal.timeout(120_000));
    const ca = readFileSync(join(dataDir, "ca", "ca.crt"));
    const login = await httpsJson({ port: server.httpsPort, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: password } });
    const jwt = (login.body as { jwt: string }).jwt;

    // Connect the fleet over the ramp; heartbeats every interval keep the sessions alive.
    const lost = new Map<number, (reason: string) => void>();
    const target = { port: server.tunnelPort, ca, timeoutMs: 60_000 };
    let connected = 0;
    let failed = 0;
    const failures = new ReasonCounts();
    const connectStarted = Date.now();
    await Promise.all(
      devices.map(async ({ identity }, index) => {
        await sleep((index / agentCount) * rampMs);
        const agent = new SimulatedAgent(identity, { onAck: () => undefined, onLost: (reason) => lost.get(index)?.(reason) });
        agents[index] = agent;
        if (await connectWithBackoff(agent, target, { attempts: 8, baseMs: 2000, onFailure: (reason) => failures.add(reason) })) connected++;
        else failed++;
      }),
    );
    console.log(`connected ${connected}/${agentCount} agents in ${((Date.now() - connectStarted) / 1000).toFixed(1)} s (${failed} failed)`);
    for (const [reason, count] of failures.entries().slice(0, 5)) console.log(`  connect failure ×${count}: ${reason}`);
    if (connected === 0) console.log(server.output().slice(-2000));
    const heartbeat = setInterval(() => {
      for (const agent of agents) if (agent?.isOpen) agent.heartbeat();
    }, intervalSeconds * 1000);

    // Revoke K connected devices one by one, spread over the fleet.
    const latencies = new LatencySamples();
    const apiLatencies = new LatencySamples();
    const step = Math.max(1, Math.floor(agentCount / revokeCount));
    let revoked = 0;
    for (let index = 0; index < agentCount && revoked < revokeCount; index += step) {
      const agent = agents[index];
      const environmentId = devices[index]?.environmentId;
      if (!agent?.isOpen || environmentId === undefined) continue;
      const closed = new Promise<number>((done) => lost.set(index, () => done(performance.now())));
      const started = performance.now();
      const answer = await httpsJson({ port: server.httpsPort, ca, method: "POST", path: `/api/endpoints/${environmentId}/certificate/revoke`, body: { Reason: "keyCompromise" }, jwt });
      apiLatencies.add(performance.now() - started);
      if (answer.status !== 200) throw new Error(`revoke answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const timeout = sleep(10_000).then(() => Number.NaN);
      const at = await Promise.race([closed, timeout]);
      if (Number.isNaN(at)) console.log(`environment ${environmentId}: session not closed within 10 s`);
      else latencies.add(at - started);
      revoked++;
      await sleep(200);
    }
    clearInterval(heartbeat);
    const still = agents.filter((agent) => agent?.isOpen).length;
    const closedSummary = latencies.summary();
    const apiSummary = apiLatencies.summary();
    console.log(`revoked ${revoked} devices one by one with ${connected} connected (${still} still connected after)`);
    console.log(`API call → session closed: p50 ${closedSummary.p50.toFixed(1)} ms, p99 ${closedSummary.p99.toFixed(1)} ms, max ${closedSummary.max.toFixed(1)} ms (n=${closedSummary.count})`);
    console.log(`API call → API answer:     p50 ${apiSummary.p50.toFixed(1)} ms, p99 ${apiSummary.p99.toFixed(1)} ms`);
  } finally {
    await endBuiltInCaRun({ agents, server, dir });
  }
}

runBuiltInCaBenchmark(main);
