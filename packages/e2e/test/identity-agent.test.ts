import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { startBuiltInCaServer, startPierAgent, tempDir, until, type PierApi, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The agent's side of the device identity lifecycle (docs/identity.md) with real processes: a
 * server with 36 s device certificates (the test-only PIER_SERVER_TEST_SHORT_CERTS allows them
 * under 60 s, so two renewals take ~55 s, not ~90 s), zero-touch agents (no certificate flags) that enroll,
 * wait, get their certificate at association, connect with mutual TLS and renew it, one of them
 * killed with SIGKILL in the middle of a renewal (the test hook PIER_AGENT_TEST_CRASH_AT).
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let api: PierApi;
const agents: PierProcess[] = [];

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Heartbeat: boolean;
  Pier: {
    Connected: boolean;
    ClientCertificate: { SerialNumber: string } | null;
    Identity: { Flow: string; EnrollmentKeyFingerprint: string | null; Certificate: { Serial: string; NotAfter: string } | null };
  };
}

async function endpoint(edgeId: string): Promise<Endpoint | undefined> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  expect(res.status).toBe(200);
  return res.body.find((e) => e.EdgeID === edgeId);
}

const identityDir = (edgeId: string) => dir.file(`agent-${edgeId}/identity`);
/** Serial of a certificate file, lowercase hex without colons (as the API shows it). */
const serialOf = (path: string) => new X509Certificate(readFileSync(path)).serialNumber.toLowerCase();
const sameSerial = (a: string | undefined, b: string) => a?.replaceAll(":", "").toLowerCase() === b;

function agent(edgeId: string, env: NodeJS.ProcessEnv = {}): PierProcess {
  const started = startPierAgent({ edgeId, edgeKey: server.edgeKey, dataDir: dir.file(`agent-${edgeId}`), env });
  agents.push(started);
  return started;
}

/** Enrolls `edgeId` through the waiting room; returns the agent once it holds its certificate. */
async function enrolled(edgeId: string, env: NodeJS.ProcessEnv = {}): Promise<PierProcess> {
  const process = agent(edgeId, env);
  const [, logged = ""] = await process.waitFor(/key fingerprint \(SPKI SHA-256\) is ([0-9a-f]{64})/, 30_000);
  const waiting = await until(`${edgeId} in the waiting room`, async () => {
    const e = await endpoint(edgeId);
    return e && !e.UserTrusted && e.Pier.Identity.EnrollmentKeyFingerprint ? e : undefined;
  }, 30_000);
  // The Waiting Room shows the fingerprint the agent logged, so the operator can compare.
  expect(waiting.Pier.Identity.EnrollmentKeyFingerprint?.replaceAll(":", "").toLowerCase()).toBe(logged);
  expect(existsSync(join(identityDir(edgeId), "current.crt"))).toBe(false);
  expect((await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`)).status).toBe(204);
  await process.waitFor(/the server issued this device's certificate/, 30_000);
  await until(`${edgeId} connected with its certificate`, async () => {
    const e = await endpoint(edgeId);
    return e?.Pier.Connected && existsSync(join(identityDir(edgeId), "current.crt")) && sameSerial(e.Pier.ClientCertificate?.SerialNumber, serialOf(join(identityDir(edgeId), "current.crt"))) ? true : undefined;
  }, 30_000);
  return process;
}

/** Every file under `path` (recursively). */
function filesUnder(path: string): string[] {
  return readdirSync(path, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(path, entry.name)) : [join(path, entry.name)]));
}

beforeAll(async () => {
  dir = tempDir("identity-agent");
  ({ server, api } = await startBuiltInCaServer(dir, password, ["--device-cert-lifetime", "36s"], { env: { PIER_SERVER_TEST_SHORT_CERTS: "1" } }));
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((process) => process.stop()));
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("zero-touch agent identity", () => {
  it("enrolls, connects with mutual TLS, renews a 36 s certificate twice without a heartbeat gap, and survives a kill -9 mid-renewal", async () => {
    const [steady, crashing] = await Promise.all([enrolled("id-steady"), enrolled("id-crash", { PIER_AGENT_TEST_CRASH_AT: "after-next-key" })]);
    expect(steady).toBeDefined();

    // The key never left the device: 0600 in a 0700 directory, and no file of the server holds it.
    const keyPath = join(identityDir("id-steady"), "current.key");
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(identityDir("id-steady")).mode & 0o777).toBe(0o700);
    // The private scalar, as raw bytes, hex and base64 (PEM), the forms a copy would take.
    const scalar = Buffer.from(createPrivateKey(readFileSync(keyPath)).export({ format: "jwk" }).d ?? "", "base64url");
    expect(scalar.length).toBe(32);
    const forms = [scalar, Buffer.from(scalar.toString("hex")), Buffer.from(scalar.toString("base64").slice(0, 40))];
    for (const file of filesUnder(dir.file("data"))) {
      const content = readFileSync(file);
      expect(forms.some((form) => content.includes(form)), file).toBe(false);
    }
    // The server recorded the certificate it issued.
    const first = serialOf(join(identityDir("id-steady"), "current.crt"));
    const issued = (await endpoint("id-steady"))?.Pier.Identity;
    expect(issued?.Flow).toBe("built-in");
    expect(sameSerial(issued?.Certificate?.Serial, first)).toBe(true);

    // Meanwhile, the agent killed right after writing next.key (its first renewal, 24-27.6 s in) is
    // restarted as soon as it died: it reconnects with the pair it had (8.4-12 s before it expires),
    // then completes a renewal.
    const crashFlow = (async () => {
      await until("the crashing agent died mid-renewal", () => Promise.resolve(crashing.process.signalCode === "SIGKILL" ? true : undefined), 90_000);
      expect(existsSync(join(identityDir("id-crash"), "next.key"))).toBe(true);
      expect(existsSync(join(identityDir("id-crash"), "next.crt"))).toBe(false);
      const before = serialOf(join(identityDir("id-crash"), "current.crt"));
      const restarted = agent("id-crash");
      await until("the restarted agent connected with the pair it had", async () => {
        const e = await endpoint("id-crash");
        if (e?.Pier.Connected && sameSerial(e.Pier.ClientCertificate?.SerialNumber, before)) return true;
        // Its renewal is due at once after the restart, and the renewed session can take over
        // between two polls: a renewal made over a session presenting the old pair proves it too
        // (the server renews only for the certificate the connection presents).
        const trail = e ? (await api.call<{ Kind: string; Detail: { oldSerial?: string } }[]>("GET", `/api/endpoints/${e.Id}/events`)).body : [];
        return trail.some((event) => event.Kind === "certificate_renewed" && sameSerial(event.Detail.oldSerial, before)) ? true : undefined;
      }, 30_000);
      await restarted.waitFor(/now using the renewed certificate/, 60_000);
      await until("the restarted agent presents its renewed certificate", async () => {
        const e = await endpoint("id-crash");
        const presented = e?.Pier.ClientCertificate?.SerialNumber?.replaceAll(":", "").toLowerCase();
        return e?.Pier.Connected && presented && presented !== before ? true : undefined;
      }, 30_000);
      expect(restarted.output()).not.toMatch(/Waiting Room/);
    })();
    crashFlow.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"

    // Two renewals (each at ⅔ of 36 s + ≤ 10 %): sample the environment every 250 ms meanwhile.
    const seen = new Set<string>([first]);
    const gaps: string[] = [];
    const deadline = Date.now() + 90_000;
    while (seen.size < 3 && Date.now() < deadline) {
      const e = await endpoint("id-steady");
      if (!e?.Pier.Connected || !e.Heartbeat) gaps.push(`${new Date().toISOString()} connected=${e?.Pier.Connected} heartbeat=${e?.Heartbeat}`);
      const presented = e?.Pier.ClientCertificate?.SerialNumber?.replaceAll(":", "").toLowerCase();
      if (presented) seen.add(presented);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(gaps).toEqual([]);
    // The files follow: current is the newest, previous the one before, no next.* left.
    const current = serialOf(join(identityDir("id-steady"), "current.crt"));
    expect(current).not.toBe(first);
    expect(existsSync(join(identityDir("id-steady"), "previous.crt"))).toBe(true);
    expect(existsSync(join(identityDir("id-steady"), "next.crt"))).toBe(false);
    expect(steady.output()).not.toMatch(/another device is using/);
    expect(steady.output()).not.toMatch(/ERROR/);
    await crashFlow;

  }, 180_000);
});
