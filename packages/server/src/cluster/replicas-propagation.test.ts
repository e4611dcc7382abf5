import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { type RunningServer, type ServerConfig, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type Credential, type TestCa, type TestPki, createTestPki } from "../tls/tls-fixtures.testkit.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";

const password = "correct horse battery staple";
const localhost = { profile: "server", commonName: "localhost", subjectAltNames: [{ type: "dns", value: "localhost" }] } as const;

/**
 * Two real replicas (`startServer` with `--database-url`) on one PostgreSQL database, each with
 * its own --data: what an administrator does through one replica's API acts on a device whose
 * session the other holds, and on the other replica's own state (logins, mTLS set).
 */
describe("two replicas on PostgreSQL: changes made through one replica's API act on the other", () => {
  let dir: TempDir;
  let pki: TestPki;
  let fleetCa: TestCa;
  let mtlsCert: Credential;
  let a: RunningServer;
  let b: RunningServer;
  let apiA: ApiClient;
  let apiB: ApiClient;
  let serverCa: string;
  const logs: string[] = [];

  const config = (name: string, databaseUrl: string): ServerConfig => ({
    bindHost: "127.0.0.1",
    bindPort: 0,
    tunnelPort: 0,
    dataDir: dir.file(`data-${name}`),
    adminPasswordFile: dir.file("admin-password"),
    cluster: { databaseUrl, secretFile: dir.file("secret"), peerHost: "127.0.0.1", peerPort: 0, replicaName: name },
    log: (level, message) => logs.push(`${name} ${level}: ${message}`),
  });
  const agentOnA = (edgeId: string) => TestAgent.connect({ port: a.tunnelAddress.port, ca: serverCa, edgeId });

  beforeAll(async () => {
    dir = tempDir("replicas-propagation");
    pki = createTestPki();
    fleetCa = await pki.createCa("Pier fleet CA");
    mtlsCert = await pki.issue(fleetCa, "mtls", localhost);
    writeFileSync(dir.file("admin-password"), password);
    writeFileSync(dir.file("secret"), randomBytes(32).toString("base64"), { mode: 0o600 });
    const url = await freshPostgresDatabase("propagation");
    a = await startServer(config("replica-a", url));
    b = await startServer(config("replica-b", url));
    serverCa = CertificateAuthority.open(join(dir.file("data-replica-a"), "ca")).certificatePem;
    apiA = apiClient(() => a.httpsAddress.port, serverCa);
    apiB = apiClient(() => b.httpsAddress.port, serverCa);
    await Promise.all([apiA.login("admin", password), apiB.login("admin", password)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await pki?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it("association on B reaches the waiting device on A; a new check-in interval saved on B too; removal on B ends its session on A in under a second", async () => {
    await using agent = await agentOnA("device-on-a");
    const id = agent.welcome.environmentId;
    expect(agent.welcome.status).toBe("waiting");

    expect((await apiB.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    expect(await agent.next("status", 3000)).toMatchObject({ status: "associated" });

    expect((await apiB.call("PUT", "/api/settings", { body: { EdgeAgentCheckinInterval: 13 } })).status).toBe(200);
    // The association may also push a status with the device's new desired state (docs/fleet.md),
    // before or after this one: wait for the one that carries the new interval.
    const deadline = Date.now() + 3000;
    let status = await agent.next("status", 3000);
    while (status.checkinIntervalSeconds !== 13 && Date.now() < deadline) status = await agent.next("status", Math.max(1, deadline - Date.now()));
    expect(status).toMatchObject({ checkinIntervalSeconds: 13 });

    const sent = performance.now();
    expect((await apiB.call("DELETE", `/api/endpoints/${id}`)).status).toBe(204);
    const refused = await agent.next("refused", 3000);
    const latencyMs = performance.now() - sent;
    expect(refused.code).toBe("removed");
    expect(latencyMs).toBeLessThan(1000);
    console.log(`DELETE on replica B -> session on replica A refused: ${latencyMs.toFixed(0)} ms (HTTP call included)`);
  });

  it("a logout on A is refused on B", async () => {
    const token = await apiA.login("admin", password);
    expect((await apiB.call("GET", "/api/settings", { token })).status).toBe(200);
    expect((await apiA.call("POST", "/api/auth/logout", { token })).status).toBe(204);
    const deadline = Date.now() + 1000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) status = (await apiB.call("GET", "/api/settings", { token })).status;
    expect(status).toBe(401);
    await apiA.login("admin", password);
  });

  it("an mTLS set uploaded on A is in force on B; removed on A, it is gone on B", async () => {
    expect((await apiB.call("GET", "/api/settings/edge/mtls")).json["Source"]).toBe("none");
    const uploaded = await apiA.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: true, CaCert: fleetCa.pem, Cert: mtlsCert.certPem, Key: mtlsCert.keyPem } });
    expect(uploaded.status).toBe(200);
    let state: Record<string, unknown> = {};
    const deadline = Date.now() + 2000;
    while (state["Source"] !== "uploaded" && Date.now() < deadline) state = (await apiB.call("GET", "/api/settings/edge/mtls")).json;
    expect(state["Source"]).toBe("uploaded");
    expect(state["Cert"]).toMatchObject({ Subject: "CN=localhost" });

    expect((await apiA.call("PUT", "/api/settings/edge/mtls", { body: { UseSeparateCert: false } })).status).toBe(200);
    const until = Date.now() + 2000;
    while (state["Source"] !== "none" && Date.now() < until) state = (await apiB.call("GET", "/api/settings/edge/mtls")).json;
    expect(state["Source"]).toBe("none");
  });
});
