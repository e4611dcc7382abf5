import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { openBuiltInCa } from "../bootstrap/built-in-tls.ts";
import { type FakeDocker, startFakeDocker } from "../docker/fake-docker.testkit.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { type RunningServer, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";

const password = "correct horse battery staple";

/** What a TLS client gets from the peer listener at `address`: an HTTP/2 answer, or a refusal. */
function peerHandshake(address: string, credentials: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${address}`, { ca: credentials.ca, servername: "", rejectUnauthorized: false, ...(credentials.cert && credentials.key ? { cert: credentials.cert, key: credentials.key } : {}) });
    const done = (outcome: string) => {
      resolve(outcome);
      session.destroy();
    };
    session.on("error", (error: Error) => done(`refused: ${error.message}`));
    session.on("close", () => done("closed without an answer"));
    const stream = session.request({ ":method": "POST", ":path": "/peer/v1/environments/1/tunnel" }, { endStream: false });
    stream.on("error", (error: Error) => done(`refused: ${error.message}`));
    stream.on("response", (headers) => done(`answered ${headers[":status"]}`));
  });
}

/**
 * Two real `startServer` replicas (built-in CA, no operator certificates) on one real
 * PostgreSQL database with one secret file, each with its own --data and peer listener on
 * loopback. A device's session is held by A; its Docker Engine (a stand-in) is reached through
 * B's Docker proxy over the peer channel.
 */
describe("two replicas on one PostgreSQL: the Docker API of a device connected to A, through B", { timeout: 60_000 }, () => {
  let dir: TempDir;
  let docker: FakeDocker;
  let a: RunningServer;
  let b: RunningServer;
  let ca: string;
  let apiA: ApiClient;
  let apiB: ApiClient;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = tempDir("replicas");
    docker = await startFakeDocker();
    const url = await freshPostgresDatabase("replicas");
    writeFileSync(dir.file("secret"), randomBytes(48).toString("base64"), { mode: 0o600 });
    writeFileSync(dir.file("admin-password"), password);
    const replica = (name: string) =>
      startServer({
        bindHost: "127.0.0.1",
        bindPort: 0,
        tunnelPort: 0,
        dataDir: dir.file(`data-${name}`),
        adminPasswordFile: dir.file("admin-password"),
        cluster: { databaseUrl: url, secretFile: dir.file("secret"), peerHost: "127.0.0.1", peerPort: 0, replicaName: name },
        log: (level, message) => logs.push(`${name} ${level}: ${message}`),
      });
    a = await replica("a");
    b = await replica("b");
    ca = readFileSync(join(dir.file("data-a"), "ca", "ca.crt"), "utf8");
    apiA = apiClient(() => a.httpsAddress.port, ca);
    apiB = apiClient(() => b.httpsAddress.port, ca);
    await apiA.login("admin", password);
    await apiB.login("admin", password);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await docker[Symbol.asyncDispose]();
    await dir[Symbol.asyncDispose]();
  });

  it("answers a Docker call made on B from the device whose session A holds", async () => {
    await using device = await TestAgent.connect({ port: a.tunnelAddress.port, ca, edgeId: "through-b" });
    const id = device.welcome.environmentId;
    expect((await apiB.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    await device.next("status");
    device.serveTunnels(docker);
    // The precondition: A holds the session, as edge_sessions says; B holds none.
    await expect.poll(async () => (await b.store.cluster.sessionOwner(id))?.replicaId).toBe(a.replicaId);
    const answer = await apiB.call("GET", `/api/endpoints/${id}/docker/_ping`);
    expect({ status: answer.status, text: answer.text }).toEqual({ status: 200, text: "OK" });
    const inspected = await apiB.call("GET", `/api/endpoints/${id}/docker/inspect?x=1`);
    expect(inspected.json).toMatchObject({ method: "GET", url: "/inspect?x=1" });
    // Pier's credentials never travel on, across replicas neither.
    expect((inspected.json["headers"] as Record<string, unknown>)["authorization"]).toBeUndefined();
    expect(logs.some((line) => line.startsWith("b debug: docker environment") && line.includes("/_ping → 200"))).toBe(true);
  });

  it("answers 503 naming the device offline when no replica holds its session", async () => {
    const device = await TestAgent.connect({ port: a.tunnelAddress.port, ca, edgeId: "gone-device" });
    const id = device.welcome.environmentId;
    expect((await apiA.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    await device.close();
    await expect.poll(() => b.store.cluster.sessionOwner(id)).toBeNull();
    const answer = await apiB.call("GET", `/api/endpoints/${id}/docker/_ping`);
    expect(answer.status).toBe(503);
    expect(answer.json).toMatchObject({ code: "unavailable", message: expect.stringContaining("is offline") as unknown });
  });

  it("shows the device connected to A as Connected on B too (detail, list), and not once its session ended", async () => {
    const device = await TestAgent.connect({ port: a.tunnelAddress.port, ca, edgeId: "seen-from-b" });
    const id = device.welcome.environmentId;
    expect((await apiB.call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
    await device.next("status");
    // The precondition: A holds the session (edge_sessions names it), B none.
    await expect.poll(async () => (await b.store.cluster.sessionOwner(id))?.replicaId).toBe(a.replicaId);
    const connectedOn = async (api: ApiClient) => {
      const detail = (await api.call("GET", `/api/endpoints/${id}`)).json as { Pier: { Connected: boolean } };
      const list = (await api.call("GET", "/api/endpoints?limit=100")).json as unknown as { Id: number; Pier: { Connected: boolean } }[];
      return { detail: detail.Pier.Connected, list: list.find((entry) => entry.Id === id)?.Pier.Connected };
    };
    expect(await connectedOn(apiA)).toEqual({ detail: true, list: true });
    expect(await connectedOn(apiB)).toEqual({ detail: true, list: true });
    await device.close();
    await expect.poll(() => b.store.cluster.sessionOwner(id)).toBeNull();
    expect(await connectedOn(apiB)).toEqual({ detail: false, list: false });
    expect(await connectedOn(apiA)).toEqual({ detail: false, list: false });
  });

  it("refuses on the peer listener a client without a certificate and one with a device certificate of the built-in CA", async () => {
    const rows = await a.store.cluster.replicas();
    const peerA = rows.find((row) => row.id === a.replicaId)?.peerAddress ?? "";
    expect(peerA).toMatch(/^127\.0\.0\.1:\d+$/);
    const builtIn = openBuiltInCa(dir.file("data-a"));
    if (!builtIn) throw new Error("replica A has no built-in CA");
    const device = await builtIn.issueWithNewKey({ profile: "client", commonName: "device-1", subjectAltNames: [{ type: "uri", value: "spiffe://pier.local/edge/device-1" }] });
    expect(await peerHandshake(peerA, { ca })).toMatch(/^refused|^closed without an answer$/);
    expect(await peerHandshake(peerA, { ca, cert: device.certificatePem, key: device.privateKeyPem })).toMatch(/^refused|^closed without an answer$/);
    expect(logs.filter((line) => line.startsWith("a warn: peer listener: refused a TLS client")).length).toBeGreaterThanOrEqual(2);
  });
});
