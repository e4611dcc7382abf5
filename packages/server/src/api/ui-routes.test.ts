import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { type RunningServer, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, clientRequest, createTestPki } from "../tls/tls-fixtures.testkit.ts";
import { type ApiClient, apiClient } from "./api-client.testkit.ts";

const password = "correct horse battery staple";
const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown;
const hex = expect.stringMatching(/^[0-9a-f]+$/) as unknown;

describe("the routes the web UI needs, on a server with the built-in CA", () => {
  let pki: TestPki;
  let fleetCa: TestCa;
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let builtInCaPem: string;

  beforeAll(async () => {
    pki = createTestPki();
    fleetCa = await pki.createCa("Pier fleet CA");
    dir = tempDir("ui-routes");
    writeFileSync(dir.file("admin-password"), password);
    server = await startServer({ bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir: dir.file("data"), adminPasswordFile: dir.file("admin-password"), log: () => undefined });
    builtInCaPem = CertificateAuthority.open(join(dir.file("data"), "ca")).certificatePem;
    api = apiClient(() => server.httpsAddress.port, builtInCaPem);
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  });

  it("POST /api/auth/logout ends the session: the same token is refused afterwards, other sessions and access tokens stay", async () => {
    const other = await api.login("admin", password);
    const token = await api.login("admin", password);
    const key = await api.call("POST", "/api/users/1/tokens", { body: { description: "logout test" } });
    const apiKey = String(key.json["rawAPIKey"]);
    expect((await api.call("GET", "/api/settings")).status).toBe(200);

    expect(await api.call("POST", "/api/auth/logout")).toMatchObject({ status: 204, text: "" });
    const refused = await api.call("GET", "/api/settings", { token });
    expect(refused.status).toBe(401);
    expect(refused.json["message"]).toBe("This session was logged out. Log in again.");
    // The Docker proxy authenticates the same way.
    expect((await api.call("GET", "/api/endpoints/1/docker/_ping", { token })).status).toBe(401);
    expect((await api.call("POST", "/api/auth/logout", { token })).status).toBe(401);

    expect((await api.call("GET", "/api/settings", { token: other })).status).toBe(200);
    expect((await api.call("POST", "/api/auth/logout", { token: null, headers: { "x-api-key": apiKey } })).status).toBe(204);
    expect((await api.call("GET", "/api/settings", { token: null, headers: { "x-api-key": apiKey } })).status).toBe(200);
    expect((await api.call("POST", "/api/auth/logout", { token: null })).status).toBe(401);
    await api.login("admin", password);
  });

  it("GET /api/certificates lists the built-in CA, what it issued, the certificates in force and the devices' certificates", async () => {
    await api.login("admin", password);
    const before = await api.call("GET", "/api/certificates");
    expect(before.status).toBe(200);
    const ca = CertificateAuthority.open(join(dir.file("data"), "ca"));
    const caSummary = { Subject: ca.certificate.subjectText, Issuer: ca.certificate.subjectText, SerialNumber: ca.certificate.serialNumber, FingerprintSHA256: ca.certificate.fingerprintSha256, NotBefore: iso, NotAfter: iso };
    expect(before.json).toEqual({
      CA: caSummary,
      Issued: [{ Subject: expect.stringMatching(/^CN=/) as unknown, Issuer: ca.certificate.subjectText, SerialNumber: hex, FingerprintSHA256: hex, NotBefore: iso, NotAfter: iso, Profile: "server", Revoked: false }],
      Server: { Subject: expect.stringMatching(/^CN=/) as unknown, Issuer: ca.certificate.subjectText, SerialNumber: hex, FingerprintSHA256: hex, NotBefore: iso, NotAfter: iso },
      Mtls: null,
      Clients: [],
    });
    const [serverIssued] = before.json["Issued"] as Array<Record<string, unknown>>;
    expect((before.json["Server"] as Record<string, unknown>)["FingerprintSHA256"]).toBe(serverIssued?.["FingerprintSHA256"]);

    // A revoked certificate, an uploaded mTLS certificate and a device presenting its certificate.
    const spare = await ca.issueWithNewKey({ profile: "client", commonName: "spare" });
    await ca.revoke(spare.record.serialNumber);
    const mtls = await pki.issue(fleetCa, "mtls", { profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }] });
    expect((await api.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: true, CaCert: fleetCa.pem, Cert: mtls.certPem, Key: mtls.keyPem } })).status).toBe(200);
    const deviceCert = await pki.issue(fleetCa, "device", clientRequest("device-7"));
    await using device = await TestAgent.connect({ port: server.tunnelAddress.port, ca: fleetCa.pem, cert: deviceCert.certPem, key: deviceCert.keyPem, servername: "localhost", edgeId: "device-7" });

    const after = await api.call("GET", "/api/certificates");
    expect(after.json["Issued"]).toEqual([serverIssued, expect.objectContaining({ Subject: "CN=spare", SerialNumber: spare.record.serialNumber, Profile: "client", Revoked: true })]);
    expect(after.json["Mtls"]).toEqual({ Subject: "CN=localhost", Issuer: "CN=Pier fleet CA", SerialNumber: hex, FingerprintSHA256: hex, NotBefore: iso, NotAfter: iso });
    expect(after.json["Clients"]).toEqual([
      { Subject: "CN=device-7", Issuer: "CN=Pier fleet CA", SerialNumber: hex, FingerprintSHA256: hex, NotBefore: iso, NotAfter: iso, EnvironmentId: device.welcome.environmentId, EnvironmentName: expect.any(String) as unknown },
    ]);
    expect((await api.call("GET", "/api/certificates", { token: null })).status).toBe(401);

    const openapi = await api.call("GET", "/api/openapi.json", { token: null });
    expect(Object.keys(openapi.json["paths"] as object)).toEqual(expect.arrayContaining(["/api/certificates", "/api/settings/edge/mtls", "/api/auth/logout"]));
  });
});
