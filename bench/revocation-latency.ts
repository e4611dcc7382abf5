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
import { X509Certificate } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CertificateAuthority, generateKeyPairSync, privateKeyToPem, spkiSha256 } from "@pier/pki";
import { SqliteStore } from "../packages/server/src/store/index.ts";
import type { AgentIdentity } from "./fleet/fleet-pki.ts";
import { LatencySamples, ReasonCounts } from "./fleet/latency-samples.ts";
import { httpsJson } from "./fleet/pier-admin.ts";
import { SimulatedAgent, describeFailure } from "./fleet/simulated-agent.ts";

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

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

interface Server {
  readonly child: ChildProcess;
  readonly httpsPort: number;
  readonly tunnelPort: number;
  output(): string;
  stop(): Promise<void>;
}

async function startServer(dataDir: string, passwordFile: string): Promise<Server> {
  const [httpsPort, tunnelPort] = [await freePort(), await freePort()];
  const child = spawn(join(repoRoot, "node_modules", ".bin", "pier"), ["server", "--bind", `127.0.0.1:${httpsPort}`, "--tunnel-port", String(tunnelPort), "--data", dataDir, "--admin-password-file", passwordFile, "--log-level", "warn", "--max-connections", String(agentCount + 1000), "--max-connections-per-source", String(agentCount + 1000)], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-64 * 1024));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pier server exited during start:\n${output}`);
    try {
      const answer = await httpsJson({ port: httpsPort, ca: readFileSync(join(dataDir, "ca", "ca.crt")), method: "GET", path: "/api/system/status" });
      if (answer.status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`pier server did not answer within 60 s:\n${output}`);
    await sleep(200);
  }
  return {
    child,
    httpsPort,
    tunnelPort,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Signs one certificate per device with the built-in CA and records devices and certificates in the store. */
async function provision(dataDir: string): Promise<{ identities: AgentIdentity[]; ids: number[] }> {
  const ca = CertificateAuthority.open(join(dataDir, "ca"));
  const signer = await ca.deviceSigner();
  const store = await SqliteStore.open(join(dataDir, "pier.db"));
  const settings = await store.settings.get();
  if (settings.edgeAgentCheckinInterval !== intervalSeconds) await store.settings.update({ edgeAgentCheckinInterval: intervalSeconds });
  const caSpki = spkiSha256(ca.certificate.publicKey);
  const identities: AgentIdentity[] = [];
  const ids: number[] = [];
  const width = String(agentCount - 1).length;
  for (let i = 0; i < agentCount; i++) {
    const edgeId = `rev-${String(i).padStart(width, "0")}`;
    const { privateKey, publicKey } = generateKeyPairSync("ecdsa-p256");
    const signed = signer.sign(publicKey, { profile: "client", commonName: edgeId, subjectAltNames: [{ type: "uri", value: `spiffe://pier.local/edge/${edgeId}` }], lifetimeSeconds: 86_400 });
    const x509 = new X509Certificate(signed.der);
    const environment = await store.environments.create({ name: edgeId, type: "edge-agent", edgeId, userTrusted: true });
    await store.certificates.insert({
      serial: signed.serialNumber,
      environmentId: environment.id,
      edgeId,
      subject: x509.subject.replace(/\n/g, ", "),
      issuer: x509.issuer.replace(/\n/g, ", "),
      caSpkiSha256: caSpki,
      spkiSha256: signed.spkiSha256,
      notBefore: signed.notBefore,
      notAfter: signed.notAfter,
      issuedAt: new Date(),
      reason: "enrollment",
      revokedAt: null,
      revocationReason: null,
      certificatePem: signed.certificatePem,
    });
    identities.push({ edgeId, certificatePem: signed.certificatePem, keyPem: privateKeyToPem(privateKey) });
    ids.push(environment.id);
  }
  await store.close();
  return { identities, ids };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pier-revocation-bench-"));
  const dataDir = join(dir, "data");
  const passwordFile = join(dir, "admin-password");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  let server: Server | undefined;
  const agents: SimulatedAgent[] = [];
  try {
    server = await startServer(dataDir, passwordFile);
    await server.stop();
    const provisionStarted = Date.now();
    const { identities, ids } = await provision(dataDir);
    console.log(`provisioned ${agentCount} devices with built-in CA certificates in ${((Date.now() - provisionStarted) / 1000).toFixed(1)} s`);
    server = await startServer(dataDir, passwordFile);
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
      identities.map(async (identity, index) => {
        await sleep((index / agentCount) * rampMs);
        const agent = new SimulatedAgent(identity, { onAck: () => undefined, onLost: (reason) => lost.get(index)?.(reason) });
        agents[index] = agent;
        for (let attempt = 0; attempt < 8; attempt++) {
          try {
            await agent.open(target);
            connected++;
            return;
          } catch (error) {
            failures.add(describeFailure(error));
            // Backoff with jitter, as the real agent: a burst of refusals must not come back at once.
            await sleep(Math.min(30_000, 2000 * 2 ** attempt) * (0.5 + Math.random()));
          }
        }
        failed++;
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
      const environmentId = ids[index];
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
    for (const agent of agents) agent?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
