import { X509Certificate } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CertificateAuthority, generateKeyPairSync, privateKeyToPem, spkiSha256 } from "@pier/pki";
import { SqliteStore } from "../../packages/server/src/store/index.ts";
import type { AgentIdentity } from "./fleet-pki.ts";
import { ServerProcess, type ServerProcessOptions } from "./server-process.ts";
import { describeFailure, type AgentTarget, type SimulatedAgent } from "./simulated-agent.ts";

/** A device provisioned with a built-in CA certificate: its identity and its environment's id. */
export interface BuiltInCaDevice {
  readonly identity: AgentIdentity;
  readonly environmentId: number;
}

/** What `provisionBuiltInCaDevices` makes. */
export interface BuiltInCaProvisioning {
  readonly dataDir: string;
  readonly count: number;
  /** EDGE_IDs are `<prefix>-<index>`, the index zero-padded to the width of `count − 1`. */
  readonly edgeIdPrefix: string;
  readonly lifetimeSeconds: number;
  /** The check-in interval recorded in the settings (the agents' heartbeat period). */
  readonly intervalSeconds: number;
}

/**
 * Starts `pier server` once on an empty `DATA` so that it creates its built-in CA (`DATA/ca`),
 * then stops it: the devices are provisioned next, straight in `pier.db`, with the server down.
 *
 * @example
 * await createBuiltInCa({ repoRoot, dataDir, adminPasswordFile });
 */
export async function createBuiltInCa(options: ServerProcessOptions): Promise<void> {
  const server = await ServerProcess.spawn(options);
  try {
    await server.ready(60_000, AbortSignal.timeout(120_000));
  } finally {
    await server.stop();
  }
}

/**
 * Signs one certificate per device with the built-in CA in `DATA/ca` (in memory, `deviceSigner`:
 * CN = EDGE_ID, URI SAN spiffe://pier.local/edge/<id>) and records each device's environment
 * (trusted) and certificate in `pier.db`, as issuance at association would. Zero-touch enrollment
 * of thousands of devices through the waiting room is not what the benchmarks measure.
 *
 * @example
 * const devices = await provisionBuiltInCaDevices({ dataDir, count: 5, edgeIdPrefix: "rev", lifetimeSeconds: 86_400, intervalSeconds: 30 });
 * devices[0].identity.edgeId; // "rev-0"
 */
export async function provisionBuiltInCaDevices(options: BuiltInCaProvisioning): Promise<BuiltInCaDevice[]> {
  const ca = CertificateAuthority.open(join(options.dataDir, "ca"));
  const signer = await ca.deviceSigner();
  const store = await SqliteStore.open(join(options.dataDir, "pier.db"));
  try {
    const settings = await store.settings.get();
    if (settings.edgeAgentCheckinInterval !== options.intervalSeconds) await store.settings.update({ edgeAgentCheckinInterval: options.intervalSeconds });
    const caSpki = spkiSha256(ca.certificate.publicKey);
    const devices: BuiltInCaDevice[] = [];
    const width = String(options.count - 1).length;
    for (let i = 0; i < options.count; i++) {
      const edgeId = `${options.edgeIdPrefix}-${String(i).padStart(width, "0")}`;
      const { privateKey, publicKey } = generateKeyPairSync("ecdsa-p256");
      const signed = signer.sign(publicKey, { profile: "client", commonName: edgeId, subjectAltNames: [{ type: "uri", value: `spiffe://pier.local/edge/${edgeId}` }], lifetimeSeconds: options.lifetimeSeconds });
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
      devices.push({ identity: { edgeId, certificatePem: signed.certificatePem, keyPem: privateKeyToPem(privateKey) }, environmentId: environment.id });
    }
    return devices;
  } finally {
    await store.close();
  }
}

/**
 * Opens `agent`'s session as the real agent would retry it: up to `attempts` tries, exponential
 * backoff from `baseMs` (at most 30 s) with jitter, so a burst of refusals does not come back at
 * once. Each failure is reported by its `describeFailure` reason. True once the session is open.
 *
 * @example
 * if (await connectWithBackoff(agent, target, { attempts: 8, baseMs: 1000, onFailure: (reason) => failures.add(reason) })) connected++;
 */
export async function connectWithBackoff(agent: SimulatedAgent, target: AgentTarget, options: { attempts: number; baseMs: number; onFailure(reason: string): void }): Promise<boolean> {
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    try {
      await agent.open(target);
      return true;
    } catch (error) {
      options.onFailure(describeFailure(error));
      await sleep(Math.min(30_000, options.baseMs * 2 ** attempt) * (0.5 + Math.random()));
    }
  }
  return false;
}

/** How a built-in-CA benchmark ends, however it ends: its agents closed, its server stopped, its directory removed. */
export async function endBuiltInCaRun(run: { readonly agents: readonly (SimulatedAgent | undefined)[]; readonly server: ServerProcess | undefined; readonly dir: string }): Promise<void> {
  for (const agent of run.agents) agent?.close();
  await run.server?.stop();
  rmSync(run.dir, { recursive: true, force: true });
}

/** Runs a built-in-CA benchmark's `main`: a failure prints its stack and sets exit code 1. */
export function runBuiltInCaBenchmark(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  });
}
