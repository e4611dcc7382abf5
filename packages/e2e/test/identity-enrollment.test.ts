import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { PierApi, openssl, pierOk, startBuiltInCaFleet, startPierAgent, until, type BuiltInCaFleet, type EndpointView, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Zero-touch enrollment with the built-in CA (issue 17, docs/identity.md "States"): a real
 * server and a real agent started WITHOUT certificate flags, on loopback. The agent makes its key,
 * waits in the Waiting Room with the key's fingerprint, is associated, receives a certificate and
 * reconnects with mutual TLS; its key never leaves its data directory.
 */
const password = "correct horse battery staple";
let fleet: BuiltInCaFleet;
let dir: TempDir;
let server: PierServer;
let api: PierApi;

type Endpoint = EndpointView<{
  Connected: boolean;
  ClientCertificate: { SerialNumber: string; Subject: string; SharedBy: number } | null;
  Identity: { Flow: string; EnrollmentKeyFingerprint: string | null; Certificate: { Serial: string; NotAfter: string; Status: string } | null };
}>;

const endpoint = (edgeId: string) => api.endpoint<Endpoint>(edgeId);

/** Every file under `root`, recursively. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(root, entry.name)) : [join(root, entry.name)]));
}

const serialNumber = (hex: string) => BigInt(`0x${hex.replace(/^serial=/i, "").trim()}`);

beforeAll(async () => {
  ({ dir, server, api } = fleet = await startBuiltInCaFleet("identity-enrollment", password, ["--device-cert-lifetime", "2h"]));
});

afterAll(async () => {
  await fleet[Symbol.asyncDispose]();
});

describe("zero-touch enrollment with the built-in CA", () => {
  it("enrolls, waits with its key fingerprint, is associated, gets its certificate and reconnects with mutual TLS; the key never left the agent's data dir", async () => {
    await using agent = startPierAgent({ edgeId: "edge-zt-1", edgeKey: server.edgeKey, dataDir: dir.file("agent-1") });
    const [, logged = ""] = await agent.waitFor(/key fingerprint \(SPKI SHA-256\) is ([0-9a-f]{64})/);
    const keyPath = dir.file("agent-1/identity/current.key");
    const keyPem = readFileSync(keyPath, "utf8");
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const keySha256 = createHash("sha256").update(createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" })).digest("hex");
    expect(logged).toBe(keySha256);

    // The Waiting Room shows the same fingerprint; no certificate yet, no client certificate seen.
    const waiting = await until("the device waits with its key fingerprint", async () => {
      const found = await endpoint("edge-zt-1");
      return found?.Pier.Identity.EnrollmentKeyFingerprint ? found : undefined;
    });
    expect(waiting).toMatchObject({ UserTrusted: false, Pier: { Connected: true, ClientCertificate: null, Identity: { Flow: "built-in", EnrollmentKeyFingerprint: keySha256, Certificate: null } } });

    const started = Date.now();
    expect((await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`)).status).toBe(204);
    // The device reconnects with the certificate: the server records the client certificate of its session.
    const enrolled = await until("the device's session presents its issued certificate", async () => {
      const found = await endpoint("edge-zt-1");
      return found?.Pier.ClientCertificate && found.Pier.Identity.Certificate && found.Pier.Connected ? found : undefined;
    });
    const elapsedMs = Date.now() - started;
    const issued = enrolled.Pier.Identity.Certificate;
    expect(issued?.Status).toBe("active");
    expect(serialNumber(enrolled.Pier.ClientCertificate?.SerialNumber ?? "0")).toBe(serialNumber(issued?.Serial ?? "1"));
    expect(enrolled.Pier.ClientCertificate).toMatchObject({ Subject: "CN=edge-zt-1", SharedBy: 1 });
    // What the device stored is that certificate, for its own key, and it says what docs/identity.md says.
    const certificatePath = dir.file("agent-1/identity/current.crt");
    expect(serialNumber(openssl(["x509", "-in", certificatePath, "-noout", "-serial"]))).toBe(serialNumber(issued?.Serial ?? "1"));
    const text = openssl(["x509", "-in", certificatePath, "-noout", "-text"]);
    expect(text).toContain("URI:spiffe://pier.local/edge/edge-zt-1");
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).toMatch(new RegExp(`URI:https://[^\\s]+:${server.httpsPort}/api/pki/crl`));
    expect(openssl(["x509", "-in", certificatePath, "-noout", "-pubkey"])).toBe(openssl(["pkey", "-in", keyPath, "-pubout"]));
    // It verifies under the built-in CA, as a client certificate.
    expect(openssl(["verify", "-CAfile", dir.file("data/ca/ca.crt"), "-purpose", "sslclient", certificatePath])).toContain(": OK");
    // The agent's mutual TLS session, as the API shows it: the associated device, connected with that certificate.
    expect(enrolled).toMatchObject({ UserTrusted: true, Pier: { Connected: true } });
    // The key is in the agent's data dir only: neither its PEM body nor its DER is anywhere in the server's data dir (database included).
    const keyDer = createPrivateKey(keyPem).export({ type: "pkcs8", format: "der" });
    const keyBody = keyPem.replace(/-----[^-]+-----/g, "").replace(/\s/g, "");
    const serverFiles = filesUnder(dir.file("data"));
    expect(serverFiles.some((file) => file.endsWith("pier.db"))).toBe(true);
    for (const file of serverFiles) {
      const bytes = readFileSync(file);
      expect(bytes.includes(keyDer), file).toBe(false);
      expect(bytes.includes(Buffer.from(keyBody.slice(0, 64))), file).toBe(false);
    }
    console.log(`association → mutual TLS session with the issued certificate: ${elapsedMs} ms`);
  });

  it("the tunnel listener asks for a client certificate without requiring one; the HTTPS listener asks browsers for none", () => {
    const tunnel = openssl(["s_client", "-connect", `127.0.0.1:${server.tunnelPort}`, "-brief"], { input: "" });
    const https = openssl(["s_client", "-connect", `127.0.0.1:${server.httpsPort}`], { input: "" });
    const caName = openssl(["x509", "-in", dir.file("data/ca/ca.crt"), "-noout", "-subject", "-nameopt", "RFC2253"]).replace(/^subject=/, "").trim();
    expect(tunnel).toMatch(/CONNECTION ESTABLISHED/);
    const tunnelFull = openssl(["s_client", "-connect", `127.0.0.1:${server.tunnelPort}`], { input: "" });
    expect(tunnelFull).toContain("Acceptable client certificate CA names");
    expect(tunnelFull).toContain(caName.replace(/^CN=/, "CN = "));
    expect(https).toContain("No client certificate CA names sent");
  });

  it("a certificate the tunnel listener does not verify is refused with the reason, logged and audited with its serial and subject", async () => {
    pierOk(["ca", "init", "--dir", dir.file("stranger-ca"), "--cn", "Stranger CA"]);
    pierOk(["ca", "issue", "client", "--dir", dir.file("stranger-ca"), "--cn", "edge-zt-stranger", "--out", dir.file("stranger")]);
    const certificate = readFileSync(dir.file("stranger.crt"));
    const serial = serialNumber(openssl(["x509", "-in", dir.file("stranger.crt"), "-noout", "-serial"]));
    const client = new PierApi(`https://127.0.0.1:${server.tunnelPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")), cert: certificate, key: readFileSync(dir.file("stranger.key")) });
    const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "edge-zt-stranger", agentVersion: "1.0.0", platform: "docker", hostname: "x", os: "linux", arch: "amd64" } };
    // Precondition: the same hello without that certificate is answered (a new device waits).
    const anonymous = new PierApi(`https://127.0.0.1:${server.tunnelPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
    expect((await anonymous.call("POST", "/api/edge/v1/checkin", { ...hello, agent: { ...hello.agent, edgeId: "edge-zt-anonymous" } })).status).toBe(200);
    // A CSR past 8 KiB, or one that does not verify, enrolls nothing and says which field is wrong.
    const oversized = await anonymous.call<{ code: string; message: string }>("POST", "/api/edge/v1/checkin", { ...hello, agent: { ...hello.agent, edgeId: "edge-zt-big" }, csr: "A".repeat(8 * 1024 + 1) });
    expect(oversized.status).toBe(400);
    expect(oversized.body.message).toMatch(/csr: Too big/);
    const garbled = await anonymous.call<{ code: string; field: string }>("POST", "/api/edge/v1/checkin", { ...hello, agent: { ...hello.agent, edgeId: "edge-zt-garbled" }, csr: "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n" });
    expect(garbled).toMatchObject({ status: 400, body: { code: "bad_request", field: "csr" } });
    expect(await endpoint("edge-zt-big")).toBeUndefined();
    expect(await endpoint("edge-zt-garbled")).toBeUndefined();

    const refused = await client.call<{ code: string; message: string }>("POST", "/api/edge/v1/checkin", hello);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^Your client certificate \(serial [0-9a-f]+\) was refused: .*(CA|issuer)/i);
    expect(await endpoint("edge-zt-stranger")).toBeUndefined();
    expect(server.output()).toMatch(/edge request from 127\.0\.0\.1 refused: its client certificate [0-9a-f]+ \(CN=edge-zt-stranger\) is not valid/);
    const db = new DatabaseSync(dir.file("data/pier.db"), { readOnly: true });
    try {
      const rows = db.prepare("SELECT detail FROM audit_events WHERE kind = 'refused_tls'").all();
      const details = rows.map((row) => JSON.parse(String(row["detail"])) as { serial?: string; certificate?: string });
      expect(details.some((d) => d.certificate === "CN=edge-zt-stranger" && serialNumber(d.serial ?? "0") === serial)).toBe(true);
    } finally {
      db.close();
    }
  });
});
