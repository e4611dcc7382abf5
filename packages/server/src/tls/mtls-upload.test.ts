import { existsSync, statSync, writeFileSync } from "node:fs";
import { parseCertificate, parsePem, writeFileAtomic } from "@pier/pki";
import { decodeEdgeKey, encodeFrame } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { type RunningServer, type ServerConfig, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, h1Get, openSession, sessionGet, uiServerRequest } from "./tls-fixtures.testkit.ts";

const password = "correct horse battery staple";
const spkiOf = (credential: Credential) => parseCertificate(parsePem(credential.certPem)[0]!.der).spkiSha256;
const localhost = { profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }] } as const;

describe("PUT /api/settings/edge/mtls: uploading a separate mTLS certificate", () => {
  let pki: TestPki;
  let uiCa: TestCa;
  let fleetCa: TestCa;
  let otherCa: TestCa;
  let uiCert: Credential;
  let mtlsCert: Credential;
  let device: Credential;
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const logs: string[] = [];

  const config = (extra: Partial<ServerConfig> = {}): ServerConfig => ({
    bindHost: "127.0.0.1",
    bindPort: 0,
    tunnelPort: 0,
    dataDir: dir.file("data"),
    ssl: { certPath: uiCert.certPath, keyPath: uiCert.keyPath },
    adminPasswordFile: dir.file("admin-password"),
    log: (level, message) => logs.push(`${level}: ${message}`),
    ...extra,
  });
  const upload = (set: { CaCert: string; Cert: string; Key: string }) => api.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: true, ...set } });
  const valid = () => ({ CaCert: fleetCa.pem, Cert: mtlsCert.certPem, Key: mtlsCert.keyPem });
  // A TLS connection to the tunnel listener as an agent of the fleet CA makes it (SNI localhost).
  // The tunnel listener serves the edge protocol only: any other path answering its 404 shows
  // the TLS handshake was accepted.
  const tunnelGet = (withCertificate: boolean) =>
    h1Get(server.tunnelAddress.port, "/api/system/status", { servername: "localhost", ca: `${fleetCa.pem}${uiCa.pem}`, ...(withCertificate ? { cert: device.certPem, key: device.keyPem } : {}) });

  beforeAll(async () => {
    pki = createTestPki();
    [uiCa, fleetCa, otherCa] = await Promise.all([pki.createCa("Pier UI CA"), pki.createCa("Pier fleet CA"), pki.createCa("Someone else's CA")]);
    uiCert = await pki.issue(uiCa, "ui", uiServerRequest());
    mtlsCert = await pki.issue(fleetCa, "mtls", localhost);
    device = await pki.issue(fleetCa, "device", clientRequest("device-1"));
    dir = tempDir("mtls-upload");
    writeFileSync(dir.file("admin-password"), password);
    server = await startServer(config());
    api = apiClient(() => server.httpsAddress.port, uiCa.pem);
    await api.login("admin", password);
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  });

  it("starts without a separate mTLS certificate: agents connect without a client certificate", async () => {
    expect((await api.call("GET", "/api/settings/edge/mtls")).json).toEqual({ Source: "none", CaCert: null, Cert: null, Crl: null });
    expect((await h1Get(server.tunnelAddress.port, "/api/system/status", { ca: uiCa.pem })).status).toBe(404);
    // A CRL needs an uploaded set (its CA) to belong to.
    const orphan = await api.call("PUT", "/api/settings/edge/mtls/crl", { body: { Crl: "" } });
    expect(orphan.status).toBe(409);
    expect(orphan.json["message"]).toMatch(/no uploaded mTLS set/);
  });

  it("refuses a certificate without serverAuth on field Cert, and changes nothing", async () => {
    const clientOnly = await pki.issue(fleetCa, "client-only", clientRequest("not a server"));
    const refused = await upload({ CaCert: fleetCa.pem, Cert: clientOnly.certPem, Key: clientOnly.keyPem });
    expect(refused.status).toBe(422);
    expect(refused.json).toEqual({
      code: "tls_material_invalid",
      message: expect.stringContaining("serverAuth") as unknown,
      field: "Cert",
      fix: expect.stringContaining("pier ca issue server") as unknown,
      details: { finding: "eku_missing" },
    });
    expect((await api.call("GET", "/api/settings/edge/mtls")).json["Source"]).toBe("none");
    expect(existsSync(dir.file("data/mtls"))).toBe(false);
  });

  it("names the field of each other refusal: key, issuer, CA, missing parts", async () => {
    const mismatched = await upload({ ...valid(), Key: device.keyPem });
    expect(mismatched).toMatchObject({ status: 422, json: { code: "tls_material_invalid", field: "Key", details: { finding: "key_mismatch" } } });
    const foreign = await pki.issue(otherCa, "foreign", localhost);
    expect(await upload({ CaCert: fleetCa.pem, Cert: foreign.certPem, Key: foreign.keyPem })).toMatchObject({ status: 422, json: { code: "tls_material_invalid", field: "Cert", details: { finding: "not_issued_by_ca" } } });
    expect(await upload({ ...valid(), CaCert: mtlsCert.certPem })).toMatchObject({ status: 422, json: { code: "tls_material_invalid", field: "CaCert", details: { finding: "ca_not_a_ca" } } });
    expect(await upload({ ...valid(), CaCert: "not a certificate" })).toMatchObject({ status: 422, json: { code: "tls_material_invalid", field: "CaCert", details: { finding: "not_pem_or_der" } } });
    expect(await upload({ ...valid(), Key: "" })).toMatchObject({ status: 422, json: { code: "tls_material_invalid", field: "Key", details: { finding: "missing" } } });
    expect((await api.call("GET", "/api/settings/edge/mtls")).json["Source"]).toBe("none");
    expect((await h1Get(server.tunnelAddress.port, "/api/system/status", { ca: uiCa.pem })).status).toBe(404);
  });

  it("applies a valid set to both listeners at once and keeps it in DATA/mtls/", async () => {
    // Clients that connected without a certificate before the upload: one on the tunnel
    // listener, and an agent's session on the HTTPS listener's UI server (no SNI).
    const before = openSession(server.tunnelAddress.port, { ca: uiCa.pem });
    const beforeClosed = new Promise((resolve) => before.once("close", resolve));
    expect((await sessionGet(before, "/api/system/status")).status).toBe(404);
    await using agent = await TestAgent.connect({ port: server.httpsAddress.port, ca: uiCa.pem, edgeId: "before-mtls" });

    const accepted = await upload(valid());
    expect(accepted.status).toBe(200);
    // The tunnel connection is cut off: it must reconnect and present a certificate.
    await beforeClosed;
    // The agent's session ends at its next heartbeat, saying why.
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 1 }));
    expect(await agent.next("refused")).toMatchObject({ code: "forbidden", message: expect.stringContaining("now requires mutual TLS") as unknown });
    expect(accepted.json).toMatchObject({
      Source: "uploaded",
      CaCert: { Subject: "CN=Pier fleet CA", Issuer: "CN=Pier fleet CA" },
      Cert: { Subject: "CN=localhost", Issuer: "CN=Pier fleet CA", Names: ["localhost"], NotBefore: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown },
    });
    expect(await api.call("GET", "/api/settings/edge/mtls")).toMatchObject({ status: 200, json: accepted.json });
    expect(statSync(dir.file("data/mtls/server.key")).mode & 0o777).toBe(0o600);
    expect(statSync(dir.file("data/mtls")).mode & 0o777).toBe(0o700);
    expect(existsSync(dir.file("data/mtls/ca.crt")) && existsSync(dir.file("data/mtls/server.crt"))).toBe(true);

    // The tunnel listener now requires a client certificate of the fleet CA.
    expect((await tunnelGet(true)).status).toBe(404);
    await expect(tunnelGet(false)).rejects.toThrow();
    // The HTTPS listener routes the mTLS name to the mTLS server, everything else to the UI one.
    await expect(h1Get(server.httpsAddress.port, "/api/system/status", { servername: "localhost", ca: fleetCa.pem })).rejects.toThrow();
    const mtls = await h1Get(server.httpsAddress.port, "/api/system/status", { servername: "localhost", ca: fleetCa.pem, cert: device.certPem, key: device.keyPem });
    expect(mtls.peer?.subject).toBe("CN=localhost");
    expect((await api.call("GET", "/api/system/status")).status).toBe(200);

    // Edge keys follow at once: the mTLS name and the mTLS certificate's fingerprint.
    const spki = spkiOf(mtlsCert);
    expect(server.edgeFingerprint()).toBe(spki);
    const generated = await api.call("POST", "/api/endpoints/edge/generate-key", { body: {} });
    const key = decodeEdgeKey(String(generated.json["edgeKey"]));
    expect(key).toMatchObject({ apiUrl: `https://localhost:${server.httpsAddress.port}`, serverFingerprint: spki, tunnelAddress: `localhost:${server.tunnelAddress.port}` });
  });

  it("follows the uploaded files on disk, like files given by flags", async () => {
    const renewed = await pki.issue(fleetCa, "mtls-renewed", { ...localhost, subjectAltNames: [...localhost.subjectAltNames, { type: "dns", value: "agents.pier.test" }] });
    writeFileAtomic(dir.file("data/mtls/server.key"), renewed.keyPem, 0o600);
    writeFileAtomic(dir.file("data/mtls/server.crt"), renewed.certPem);
    await vi.waitFor(async () => expect((await api.call("GET", "/api/settings/edge/mtls")).json["Cert"]).toMatchObject({ Names: ["localhost", "agents.pier.test"] }), { timeout: 5000, interval: 100 });
    expect(server.edgeFingerprint()).toBe(spkiOf(renewed));
    expect((await tunnelGet(true)).status).toBe(404);
  });

  it("keeps the uploaded set across a restart", async () => {
    await server.close();
    server = await startServer(config());
    await api.login("admin", password);
    expect((await api.call("GET", "/api/settings/edge/mtls")).json).toMatchObject({ Source: "uploaded", Cert: { Names: ["localhost", "agents.pier.test"] } });
    expect((await tunnelGet(true)).status).toBe(404);
    await expect(tunnelGet(false)).rejects.toThrow();
  });

  it("removes the set with UseSeparateCert: false, live", async () => {
    const removed = await api.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: false } });
    expect(removed).toMatchObject({ status: 200, json: { Source: "none", CaCert: null, Cert: null } });
    expect(existsSync(dir.file("data/mtls"))).toBe(false);
    expect((await h1Get(server.tunnelAddress.port, "/api/system/status", { ca: uiCa.pem })).status).toBe(404);
    expect(server.edgeFingerprint()).toBe(spkiOf(uiCert));
    // Both changes of the devices' trust anchor are in the audit trail, with who made them.
    const trail = (await server.store.audit.list()).filter((event) => event.kind.startsWith("mtls_"));
    expect(trail.map((event) => event.kind)).toEqual(expect.arrayContaining(["mtls_uploaded", "mtls_removed"]));
    const uploaded = trail.find((event) => event.kind === "mtls_uploaded")?.detail;
    expect(typeof uploaded?.["user"]).toBe("string");
    expect(uploaded?.["names"]).toContain("localhost");
  });

  it("answers 409 when the mTLS files come from the flags", async () => {
    const flagged = await startServer(config({ dataDir: dir.file("data-flags"), mtls: { caPath: fleetCa.caPath, certPath: mtlsCert.certPath, keyPath: mtlsCert.keyPath } }));
    try {
      const client = apiClient(() => flagged.httpsAddress.port, uiCa.pem);
      await client.login("admin", password);
      expect((await client.call("GET", "/api/settings/edge/mtls")).json).toMatchObject({ Source: "flags", Cert: { Names: ["localhost"] } });
      expect((await client.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: true, ...valid() } })).status).toBe(409);
      const removal = await client.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: false } });
      expect(removal.status).toBe(409);
      expect(removal.json["message"]).toMatch(/--mtlscacert/);
      const crl = await client.call("PUT", "/api/settings/edge/mtls/crl", { body: { Crl: "" } });
      expect(crl.status).toBe(409);
      expect(crl.json["message"]).toMatch(/--mtlscacert/);
    } finally {
      await flagged.close();
    }
  });
});
