import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { builtInCaApi, enrollZeroTouchAgent, openssl, run, startBuiltInCaServer, startPierAgent, startPierServer, tempDir, until, type PierApi, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * CA rotation of the built-in CA (docs/identity.md "CA rotation") with real processes: one
 * server, zero-touch agents (no certificate flags) that enroll, are associated and connect with
 * certificates from the built-in CA, then move to a new CA. One server for the whole file.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let api: PierApi;
const agents = new Map<string, PierProcess>();

interface RotationCa {
  Subject: string;
  Fingerprint: string;
  NotAfter: string;
}
interface Straggler {
  Id: number;
  Name: string;
  EdgeID: string;
  Online: boolean;
  LastCheckIn: string | null;
  Serial: string;
}
interface Rotation {
  Phase: "standby" | "rotating" | "rolling_back";
  StartedAt: string | null;
  WindowSeconds: number | null;
  FromCa: RotationCa;
  ToCa: RotationCa | null;
  DevicesTotal: number;
  DevicesMoved: number;
  DevicesOnline: number;
  Stragglers: Straggler[];
}
interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Pier: { Connected: boolean };
}

/** The API client trusts whatever `DATA/ca/ca.crt` holds now (it changes at a finish). */
const connectApi = (): PierApi => builtInCaApi(server, dir);

async function rotation(): Promise<Rotation> {
  const res = await api.call<Rotation>("GET", "/api/pki/rotation");
  expect(res.status).toBe(200);
  return res.body;
}

async function endpoints(): Promise<Endpoint[]> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  expect(res.status).toBe(200);
  return res.body;
}

/** The server certificate a client sees on `port`, as `openssl s_client -showcerts` prints it. */
function presentedCertificate(port: number): X509Certificate {
  const output = openssl(["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-showcerts"], { input: "" });
  const pem = output.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
  if (!pem) throw new Error(`openssl s_client showed no certificate:\n${output}`);
  return new X509Certificate(pem);
}

const spkiSha256 = (certificate: X509Certificate) => createHash("sha256").update(certificate.publicKey.export({ type: "spki", format: "der" })).digest("hex");

/** `openssl verify` of a certificate against a CA file: true when it chains. */
function chainsTo(certificate: X509Certificate, caFile: string): boolean {
  const path = dir.file(`presented-${Date.now()}.pem`);
  writeFileSync(path, certificate.toString());
  return run("openssl", ["verify", "-CAfile", caFile, path]).status === 0;
}

/** Starts a zero-touch agent, associates it, and waits until it holds a certificate from the built-in CA. */
async function enrolledAgent(edgeId: string): Promise<PierProcess> {
  const { agent } = await enrollZeroTouchAgent({ server, api, dir }, edgeId);
  agents.set(edgeId, agent);
  return agent;
}

beforeAll(async () => {
  dir = tempDir("identity-rotation");
  ({ server, api } = await startBuiltInCaServer(dir, password));
}, 60_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.stop()));
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

describe("CA rotation with real agents", () => {
  it("online agents move within the window, the offline one is listed, finish moves the server certificate for the same key, and the offline agent is refused as from the retired CA", async () => {
    await Promise.all(["rot-a", "rot-b", "rot-c"].map((id) => enrolledAgent(id)));
    const before = await rotation();
    expect(before).toMatchObject({ Phase: "standby", DevicesTotal: 3, DevicesMoved: 3, ToCa: null, Stragglers: [] });
    const serverBefore = presentedCertificate(server.tunnelPort);
    const oldCaFile = dir.file("old-ca.crt");
    writeFileSync(oldCaFile, readFileSync(dir.file("data/ca/ca.crt")));
    expect(chainsTo(serverBefore, oldCaFile)).toBe(true);

    await agents.get("rot-c")?.stop();
    await until("rot-c offline", async () => ((await endpoints()).find((e) => e.EdgeID === "rot-c")?.Pier.Connected === false ? true : undefined));

    const started = await api.call<Rotation>("POST", "/api/pki/rotation", { WindowSeconds: 3 });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ Phase: "rotating", WindowSeconds: 3, DevicesTotal: 3, DevicesMoved: 0, DevicesOnline: 2 });
    expect(started.body.ToCa?.Fingerprint).not.toBe(started.body.FromCa.Fingerprint);
    expect(existsSync(dir.file("data/ca-next/ca.crt"))).toBe(true);

    const moved = await until("the two online agents moved to the new CA", async () => {
      const now = await rotation();
      return now.DevicesMoved === 2 ? now : undefined;
    }, 45_000);
    expect(moved.Stragglers).toMatchObject([{ Name: expect.any(String) as unknown, EdgeID: "rot-c", Online: false }]);
    // Each moved agent keeps the trust bundle with both CAs for the server.
    expect(readFileSync(dir.file("agent-rot-a/identity/trust.pem"), "utf8").match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    const finished = await api.call<Rotation & { RetiredDirectory: string | null }>("POST", "/api/pki/rotation/finish", {});
    expect(finished.status).toBe(200);
    expect(finished.body).toMatchObject({ Phase: "standby", Stragglers: [{ EdgeID: "rot-c", Online: false }] });
    expect(finished.body.FromCa.Fingerprint).toBe(started.body.ToCa?.Fingerprint);
    expect(readdirSync(dir.file("data")).filter((name) => name.startsWith("ca-retired-"))).toHaveLength(1);
    expect(existsSync(dir.file("data/ca-next"))).toBe(false);

    // The server certificate moved to the new CA, for the same key (the EDGE_KEY pin holds).
    const serverAfter = await until("the listeners present the re-issued certificate", () => {
      const presented = presentedCertificate(server.tunnelPort);
      return Promise.resolve(presented.fingerprint256 === serverBefore.fingerprint256 ? undefined : presented);
    });
    expect(chainsTo(serverAfter, dir.file("data/ca/ca.crt"))).toBe(true);
    expect(chainsTo(serverAfter, oldCaFile)).toBe(false);
    expect(spkiSha256(serverAfter)).toBe(spkiSha256(serverBefore));
    expect(presentedCertificate(server.httpsPort).fingerprint256).toBe(serverAfter.fingerprint256);
    api = connectApi();
    await api.login("admin", password);

    // The moved agents keep working, and one restarted reconnects under the new CA.
    await agents.get("rot-a")?.stop();
    const again = startPierAgent({ edgeId: "rot-a", edgeKey: server.edgeKey, dataDir: dir.file("agent-rot-a") });
    agents.set("rot-a", again);
    await until("rot-a and rot-b connected after the finish", async () => {
      const list = await endpoints();
      return ["rot-a", "rot-b"].every((id) => list.find((e) => e.EdgeID === id)?.Pier.Connected) ? true : undefined;
    }, 30_000);

    // The agent that slept through the rotation presents a certificate of the retired CA.
    const late = startPierAgent({ edgeId: "rot-c", edgeKey: server.edgeKey, dataDir: dir.file("agent-rot-c") });
    agents.set("rot-c", late);
    await server.waitFor(/client certificate \S+ \(CN=rot-c[^)]*\) is not valid: it comes from the retired CA/, 30_000);
    await late.waitFor(/retired CA/, 30_000);
    expect((await endpoints()).find((e) => e.EdgeID === "rot-c")?.Pier.Connected).toBe(false);
    await late.stop();
  }, 240_000);

  it("finish is refused while an online agent has not moved; a rollback brings the moved ones back and its finish keeps DATA/ca and the server certificate", async () => {
    expect((await api.call("POST", "/api/pki/rotation/rollback")).status).toBe(409);
    const tooLong = await api.call<{ field?: string }>("POST", "/api/pki/rotation", { WindowSeconds: 86_401 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.field).toBe("WindowSeconds");
    const caBefore = readFileSync(dir.file("data/ca/ca.crt"), "utf8");
    const serverBefore = presentedCertificate(server.tunnelPort);

    const started = await api.call<Rotation>("POST", "/api/pki/rotation", { WindowSeconds: 8 });
    expect(started.status).toBe(200);
    expect(started.body.DevicesOnline).toBe(2);
    const refused = await api.call<{ message: string; details: { stragglers: { EdgeID: string }[] } }>("POST", "/api/pki/rotation/finish", {});
    expect(refused.status).toBe(409);
    expect(refused.body.details.stragglers.length).toBeGreaterThan(0);
    expect(refused.body.message).toMatch(/online device\(s\) still use a certificate from/);
    expect((await api.call("POST", "/api/pki/rotation", {})).status).toBe(409);
    expect((await rotation()).Phase).toBe("rotating");

    await until("one agent moved", async () => ((await rotation()).DevicesMoved >= 1 ? true : undefined), 30_000);
    const rolledBack = await api.call<Rotation>("POST", "/api/pki/rotation/rollback");
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body).toMatchObject({ Phase: "rolling_back" });
    expect(rolledBack.body.FromCa.Fingerprint).toBe(started.body.ToCa?.Fingerprint);
    expect(rolledBack.body.ToCa?.Fingerprint).toBe(started.body.FromCa.Fingerprint);
    await until("both agents back on the old CA", async () => ((await rotation()).DevicesMoved === 2 ? true : undefined), 30_000);

    const finished = await api.call<Rotation & { RetiredDirectory: string | null }>("POST", "/api/pki/rotation/finish", {});
    expect(finished.status).toBe(200);
    expect(finished.body).toMatchObject({ Phase: "standby", Stragglers: [] });
    expect(readFileSync(dir.file("data/ca/ca.crt"), "utf8")).toBe(caBefore);
    expect(existsSync(dir.file("data/ca-next"))).toBe(false);
    expect(readdirSync(dir.file("data")).filter((name) => name.startsWith("ca-retired-"))).toHaveLength(2);
    expect(presentedCertificate(server.tunnelPort).fingerprint256).toBe(serverBefore.fingerprint256);
    await until("both agents connected", async () => {
      const list = await endpoints();
      return ["rot-a", "rot-b"].every((id) => list.find((e) => e.EdgeID === id)?.Pier.Connected) ? true : undefined;
    });
  }, 180_000);

  it("a server restarted mid-rotation resumes it, and agents that connect later are told to renew", async () => {
    // Fresh agents: rot-a and rot-b renewed three times already, the per-device renewal limit.
    for (const id of ["rot-a", "rot-b"]) await agents.get(id)?.stop();
    await Promise.all(["rot-d", "rot-e"].map((id) => enrolledAgent(id)));
    for (const id of ["rot-d", "rot-e"]) await agents.get(id)?.stop();
    const started = await api.call<Rotation>("POST", "/api/pki/rotation", { WindowSeconds: 2 });
    expect(started.body).toMatchObject({ Phase: "rotating", DevicesMoved: 0, DevicesOnline: 0 });
    const ports = { httpsPort: server.httpsPort, tunnelPort: server.tunnelPort };
    await server.stop();
    server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password")], ...ports });
    await server.waitFor(/CA rotation resumed in phase rotating/);
    api = connectApi();
    await api.login("admin", password);
    expect((await rotation()).ToCa?.Fingerprint).toBe(started.body.ToCa?.Fingerprint);

    for (const id of ["rot-d", "rot-e"]) agents.set(id, startPierAgent({ edgeId: id, edgeKey: server.edgeKey, dataDir: dir.file(`agent-${id}`) }));
    await agents.get("rot-d")?.waitFor(/the server asks this device to renew its certificate \(rotation\) within 2 s/, 30_000);
    const moved = await until("both agents moved after the restart", async () => {
      const now = await rotation();
      return now.Stragglers.some((s) => s.EdgeID === "rot-d" || s.EdgeID === "rot-e") ? undefined : now;
    }, 30_000);
    // Stragglers come online first, then by environment id: the agents' enrollment order is theirs.
    expect(moved.Stragglers.map((s) => [s.EdgeID, s.Online]).sort()).toEqual([
      ["rot-a", false],
      ["rot-b", false],
    ]);
    const finished = await api.call<Rotation>("POST", "/api/pki/rotation/finish", {});
    expect(finished.status).toBe(200);
    expect(finished.body.Stragglers.map((s) => s.EdgeID).sort()).toEqual(["rot-a", "rot-b"]);
    api = connectApi();
    await api.login("admin", password);
  }, 180_000);

  it("a forced finish lists the online agents left behind and closes their sessions", async () => {
    const started = await api.call<Rotation>("POST", "/api/pki/rotation", {});
    expect(started.body).toMatchObject({ Phase: "rotating", WindowSeconds: 600, DevicesOnline: 2 });
    expect((await api.call("POST", "/api/pki/rotation/finish", {})).status).toBe(409);

    const forced = await api.call<Rotation>("POST", "/api/pki/rotation/finish", { Force: true });

    expect(forced.status).toBe(200);
    expect(forced.body.Stragglers.filter((s) => s.Online).map((s) => s.EdgeID).sort()).toEqual(["rot-d", "rot-e"]);
    api = connectApi();
    await api.login("admin", password);
    await agents.get("rot-d")?.waitFor(/retired CA/, 30_000);
    expect((await endpoints()).find((e) => e.EdgeID === "rot-d")?.Pier.Connected).toBe(false);
  }, 120_000);
});
