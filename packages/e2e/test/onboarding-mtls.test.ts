import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { copyFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { PierApi, pier, pierOk, seedCertificates, startPierAgent, startPierServer, tempDir, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The official guide's mode: a separate mTLS certificate for the agents' domain ("localhost"
 * here), the UI under its normal name (127.0.0.1, no SNI) without client certificates.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let api: PierApi;

const must = (args: string[]) => pierOk(args, { cwd: dir.path });

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Heartbeat: boolean;
  Pier: { ClientCertificate: { Subject: string; SerialNumber: string; FingerprintSHA256: string; NotAfter: string } | null };
}

async function byEdgeId(edgeId: string): Promise<Endpoint | undefined> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  return res.body.find((e) => e.EdgeID === edgeId);
}

const agentTls = (name: string, ca = "mtls-ca/ca.crt") => ["--mtlscacert", dir.file(ca), "--mtlscert", dir.file(`${name}.crt`), "--mtlskey", dir.file(`${name}.key`)];

beforeAll(async () => {
  dir = tempDir("onboarding-mtls");
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  must(["ca", "init", "--dir", "mtls-ca", "--cn", "Acme mTLS CA"]);
  must(["ca", "issue", "server", "--dir", "mtls-ca", "--san", "DNS:localhost", "--out", "mtlsserver"]);
  must(["ca", "issue", "client", "--dir", "mtls-ca", "--cn", "edge-good", "--out", "edge-good"]);
  must(["ca", "issue", "client", "--dir", "mtls-ca", "--cn", "edge-second", "--out", "edge-second"]);
  must(["ca", "issue", "server", "--dir", "mtls-ca", "--san", "DNS:not-a-client", "--out", "wrong-eku"]);
  must(["ca", "init", "--dir", "foreign-ca", "--cn", "Foreign CA"]);
  must(["ca", "issue", "client", "--dir", "foreign-ca", "--cn", "edge-foreign", "--out", "edge-foreign"]);
  server = await startPierServer({
    dataDir: dir.file("data"),
    args: ["--mtlscacert", dir.file("mtls-ca/ca.crt"), "--mtlscert", dir.file("mtlsserver.crt"), "--mtlskey", dir.file("mtlsserver.key"), "--admin-password-file", dir.file("admin-password")],
  });
  api = new PierApi(`https://127.0.0.1:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
  await api.login("admin", password);
});

afterAll(async () => {
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

describe("separate mTLS certificate (official guide)", () => {
  it("asks for a client certificate only on the mTLS domain", () => {
    const ui = pier(["doctor", "--connect", `127.0.0.1:${server.httpsPort}`, "--ca", dir.file("data/ca/ca.crt")]);
    expect(ui.stdout).toMatch(/Client certificate: not requested/);
    const mtls = pier(["doctor", "--connect", `localhost:${server.httpsPort}`, "--ca", dir.file("mtls-ca/ca.crt")]);
    expect(mtls.stdout).toMatch(/Client certificate: required \(acceptable CAs: CN=Acme mTLS CA\)/);
    expect(mtls.status).toBe(1);
    const withCert = pier(["doctor", "--connect", `localhost:${server.tunnelPort}`, "--ca", dir.file("mtls-ca/ca.crt"), "--cert", dir.file("edge-good.crt"), "--key", dir.file("edge-good.key")]);
    expect(withCert.stdout).toMatch(/Handshake with our client certificate: ok/);
    expect(withCert.status).toBe(0);
  });

  it("an agent without a client certificate never gets in and is told why", async () => {
    await using agent = startPierAgent({ edgeId: "edge-nocert", edgeKey: server.edgeKey, dataDir: dir.file("a-nocert"), args: ["--mtlscacert", dir.file("mtls-ca/ca.crt")] });
    await agent.waitFor(/cannot connect to https:\/\/localhost:\d+: .*requires a client certificate.*--mtlscert/);
    expect(await byEdgeId("edge-nocert")).toBeUndefined();
    const waiting = await api.call<Endpoint[]>("GET", "/api/endpoints?edgeDeviceUntrusted=true");
    expect(waiting.body.some((e) => e.EdgeID === "edge-nocert")).toBe(false);
  });

  it("a certificate from a foreign CA is refused, with the reason on both sides", async () => {
    await using agent = startPierAgent({ edgeId: "edge-foreign", edgeKey: server.edgeKey, dataDir: dir.file("a-foreign"), args: agentTls("edge-foreign") });
    await agent.waitFor(/The server refused our client certificate \(CN=edge-foreign, issued by CN=Foreign CA\): it accepts client certificates issued by CN=Acme mTLS CA only/);
    await server.waitFor(/refused a TLS client from 127\.0\.0\.1.*(unknown|not trusted|CA)/i);
    expect(await byEdgeId("edge-foreign")).toBeUndefined();
  });

  it("an agent that trusts another CA refuses the server's certificate, and says so", async () => {
    await using agent = startPierAgent({ edgeId: "edge-wrong-ca", edgeKey: server.edgeKey, dataDir: dir.file("a-wrong-ca"), args: agentTls("edge-good", "foreign-ca/ca.crt") });
    const [line] = await agent.waitFor(/cannot connect to .*/);
    expect(line).toMatch(/server's certificate/i);
    expect(line).toMatch(/--mtlscacert/);
    expect(await byEdgeId("edge-wrong-ca")).toBeUndefined();
  });

  it("an agent dialing a name the certificate does not cover reports the mismatch", async () => {
    const fields = Buffer.from(server.edgeKey, "base64").toString().split("|");
    fields[1] = `127.0.0.1:${server.tunnelPort}`;
    const byIp = Buffer.from(fields.join("|")).toString("base64").replace(/=+$/, "");
    await using agent = startPierAgent({ edgeId: "edge-by-ip", edgeKey: byIp, dataDir: dir.file("a-by-ip"), args: agentTls("edge-good") });
    const [line] = await agent.waitFor(/cannot connect to .*/);
    expect(line).toMatch(/127\.0\.0\.1/);
    expect(line).toMatch(/DNS:localhost/);
  });

  it("EDGE_INSECURE_POLL=1 skips the CA check, not the pin: a forged fingerprint is refused; the real one connects with a CA file that did not issue the server's certificate", async () => {
    const fields = Buffer.from(server.edgeKey, "base64").toString().split("|");
    fields[2] = "00".repeat(32);
    const forged = Buffer.from(fields.join("|")).toString("base64").replace(/=+$/, "");
    await using refused = startPierAgent({ edgeId: "edge-insecure-forged", edgeKey: forged, dataDir: dir.file("a-insecure-forged"), args: agentTls("edge-good", "foreign-ca/ca.crt"), env: { EDGE_INSECURE_POLL: "1" } });
    await refused.waitFor(/cannot connect to .*is not the one pinned in EDGE_KEY \(0000000000000000…\)/);
    await refused.stop();
    expect(await byEdgeId("edge-insecure-forged")).toBeUndefined();

    // The foreign CA did not issue the server's certificate: only EDGE_INSECURE_POLL=1 lets this agent in, by the pin.
    await using agent = startPierAgent({ edgeId: "edge-insecure", edgeKey: server.edgeKey, dataDir: dir.file("a-insecure"), args: agentTls("edge-good", "foreign-ca/ca.crt"), env: { EDGE_INSECURE_POLL: "1" } });
    await agent.waitFor(/WARN .*EDGE_INSECURE_POLL=1: the server's certificate is not checked against a CA file/);
    await agent.waitFor(/as environment \d+/);
    expect((await byEdgeId("edge-insecure"))?.Pier.ClientCertificate?.Subject).toBe("CN=edge-good");
  });

  it("a certificate without clientAuth is refused at start by the agent itself", () => {
    const result = pier(["agent", "--data", dir.file("a-eku"), ...agentTls("wrong-eku")], { env: { EDGE: "1", EDGE_ID: "edge-eku", EDGE_KEY: server.edgeKey } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/without clientAuth/);
  });

  it("a valid certificate reaches the waiting room with its certificate recorded, then is associated", async () => {
    await using agent = startPierAgent({ edgeId: "edge-good", edgeKey: server.edgeKey, dataDir: dir.file("a-good"), args: agentTls("edge-good") });
    await agent.waitFor(/verified with the mTLS CA file; client certificate: CN=edge-good/);
    const [, id] = await agent.waitFor(/connected to https:\/\/localhost:\d+ as environment (\d+) \(placeholder environment id until association\): waiting/);
    const device = await byEdgeId("edge-good");
    const certificate = readFileSync(dir.file("edge-good.crt"), "utf8");
    const serial = pier(["ca", "list", "--dir", "mtls-ca", "--json"], { cwd: dir.path });
    const issued = (JSON.parse(serial.stdout) as { subject: string; serialNumber: string }[]).find((c) => c.subject === "CN=edge-good");
    expect(device?.Pier.ClientCertificate).toMatchObject({ Subject: "CN=edge-good", SerialNumber: issued?.serialNumber });
    expect(certificate).toContain("BEGIN CERTIFICATE");
    expect((await api.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    await agent.waitFor(/associated by the administrator/);
    expect(await byEdgeId("edge-good")).toMatchObject({ UserTrusted: true, Heartbeat: true });
  });

  it("another certificate cannot take over a bound EDGE_ID; the administrator sees the attempt", async () => {
    await using impostor = startPierAgent({ edgeId: "edge-good", edgeKey: server.edgeKey, dataDir: dir.file("a-impostor"), args: agentTls("edge-second") });
    await impostor.waitFor(/EDGE_ID edge-good is bound to another device \(another client certificate\)/);
    const device = await byEdgeId("edge-good");
    expect(device?.Pier.ClientCertificate?.Subject).toBe("CN=edge-good");
    const conflict = (device as unknown as { Pier: { IdentityConflict: { CertificateSubject?: string } | null } }).Pier.IdentityConflict;
    expect(conflict?.CertificateSubject).toBe("CN=edge-second");
  });

  it("edge endpoints do not answer on the UI name, without a verified client certificate", async () => {
    const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "sneaky", agentVersion: "0", platform: "docker", hostname: "x", os: "x", arch: "x" } };
    const res = await api.call<{ message: string }>("POST", "/api/edge/v1/checkin", hello);
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/only over mutual TLS/);
    expect(await byEdgeId("sneaky")).toBeUndefined();
  });

  it("certificates and client CA replaced on disk apply without restart; connected agents keep working", async () => {
    await using agent = startPierAgent({ edgeId: "edge-second", edgeKey: server.edgeKey, dataDir: dir.file("a-second"), args: agentTls("edge-second") });
    await agent.waitFor(/as environment \d+/);
    const fingerprint = (port: number) => /public key \(SPKI\) SHA-256 ([0-9a-f]{64})/.exec(pier(["doctor", "--connect", `localhost:${port}`, "--ca", dir.file("mtls-ca/ca.crt")]).stdout)?.[1];
    const before = fingerprint(server.tunnelPort);

    // A renewed mTLS server certificate (new key) and a CA bundle that adds a second CA.
    must(["ca", "issue", "server", "--dir", "mtls-ca", "--san", "DNS:localhost", "--out", "mtlsserver-new"]);
    must(["ca", "init", "--dir", "second-ca", "--cn", "Acme mTLS CA 2026"]);
    must(["ca", "issue", "client", "--dir", "second-ca", "--cn", "edge-new-ca", "--out", "edge-new-ca"]);
    writeFileSync(dir.file("bundle.tmp"), readFileSync(dir.file("mtls-ca/ca.crt"), "utf8") + readFileSync(dir.file("second-ca/ca.crt"), "utf8"));
    copyFileSync(dir.file("mtlsserver-new.key"), dir.file("mtlsserver.key.tmp"));
    copyFileSync(dir.file("mtlsserver-new.crt"), dir.file("mtlsserver.crt.tmp"));
    renameSync(dir.file("mtlsserver.key.tmp"), dir.file("mtlsserver.key"));
    renameSync(dir.file("mtlsserver.crt.tmp"), dir.file("mtlsserver.crt"));
    renameSync(dir.file("bundle.tmp"), dir.file("mtls-ca/ca.crt"));
    await server.waitFor(/TLS reloaded: .*mTLS certificate CN=localhost/, 10_000);

    const after = fingerprint(server.tunnelPort);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    await using newcomer = startPierAgent({ edgeId: "edge-new-ca", edgeKey: server.edgeKey, dataDir: dir.file("a-new-ca"), args: agentTls("edge-new-ca", "mtls-ca/ca.crt") });
    await newcomer.waitFor(/as environment \d+/);
    // The agent connected before the swap is still in session: no reconnect was logged.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(agent.output()).not.toMatch(/cannot connect|reconnecting/);
  });

  it("an invalid replacement is rejected with the reason and the old certificate stays", async () => {
    const before = pier(["doctor", "--connect", `localhost:${server.tunnelPort}`, "--ca", dir.file("mtls-ca/ca.crt")]).stdout.match(/SPKI\) SHA-256 ([0-9a-f]{64})/)?.[1];
    copyFileSync(dir.file("edge-good.key"), dir.file("mismatch.tmp"));
    renameSync(dir.file("mismatch.tmp"), dir.file("mtlsserver.key"));
    await server.waitFor(/TLS reload refused, the previous certificates stay in force: .*does not belong/, 10_000);
    const after = pier(["doctor", "--connect", `localhost:${server.tunnelPort}`, "--ca", dir.file("mtls-ca/ca.crt")]).stdout.match(/SPKI\) SHA-256 ([0-9a-f]{64})/)?.[1];
    expect(after).toBe(before);
    const viaApi = await api.call<{ message: string }>("POST", "/api/settings/tls/reload");
    expect(viaApi.status).toBe(422);
    expect(viaApi.body.message).toMatch(/does not belong/);
  });
});

describe("whole-listener mTLS with the seeds' openssl set (blog posts)", () => {
  it("requires a client certificate from everyone; the agent with the seeds' client certificate gets in", async () => {
    const seed = await seedCertificates(inject("seedDir"));
    await using blog = tempDir("onboarding-blog");
    await using blogServer = await startPierServer({
      dataDir: blog.file("data"),
      args: ["--sslcert", `${seed}/server.cert`, "--sslkey", `${seed}/server.key`, "--sslcacert", `${seed}/ca.cert`, "--admin-password-file", dir.file("admin-password")],
    });
    const ca = readFileSync(`${seed}/ca.cert`);
    const anonymous = new PierApi(`https://localhost:${blogServer.httpsPort}`, { ca });
    await expect(anonymous.call("GET", "/api/system/status")).rejects.toThrow();
    const admin = new PierApi(`https://localhost:${blogServer.httpsPort}`, { ca, cert: readFileSync(`${seed}/client.cert`), key: readFileSync(`${seed}/client.key`) });
    await admin.login("admin", password);
    const key = await admin.call<{ edgeKey: string }>("POST", "/api/endpoints/edge/generate-key", { url: `https://localhost:${blogServer.httpsPort}`, tunnelServerAddress: `localhost:${blogServer.tunnelPort}` });
    expect(key.status).toBe(200);

    await using agent = startPierAgent({
      edgeId: "edge-blog",
      edgeKey: key.body.edgeKey,
      dataDir: blog.file("agent"),
      args: ["--sslcacert", `${seed}/ca.cert`, "--sslcert", `${seed}/client.cert`, "--sslkey", `${seed}/client.key`],
    });
    await agent.waitFor(/--sslcacert is deprecated; use --mtlscacert/);
    await agent.waitFor(/as environment \d+ \(placeholder environment id until association\): waiting/);
    const waiting = await admin.call<Endpoint[]>("GET", "/api/endpoints?edgeDeviceUntrusted=true");
    expect(waiting.body.find((e) => e.EdgeID === "edge-blog")?.Pier.ClientCertificate?.Subject).toBe("CN=client");

    await using noCert = startPierAgent({ edgeId: "edge-blog-nocert", edgeKey: key.body.edgeKey, dataDir: blog.file("agent-nocert"), args: ["--mtlscacert", `${seed}/ca.cert`] });
    await noCert.waitFor(/requires a client certificate/);
  });
});
