import { X509Certificate } from "node:crypto";
import http from "node:http";
import http2, { constants } from "node:http2";
import net from "node:net";
import type { Duplex } from "node:stream";
import { certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, loadPrivateKey, parseCertificate, privateKeyToPem, profileExtensions, signCertificate } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeDocker, startFakeDocker } from "../docker/fake-docker.testkit.ts";
import { type EdgeFixture, startEdgeFixture } from "../edge/edge-fixture.testkit.ts";
import type { TestAgent } from "../edge/test-agent.testkit.ts";
import { ServerError } from "../errors.ts";
import type { ReplicaRecord } from "../store/cluster-store.ts";
import { ClusterTunnels } from "./cluster-tunnels.ts";
import { PeerCa, replicaIdOf, type PeerCredentials } from "./peer-ca.ts";
import { PeerClient } from "./peer-client.ts";
import { PeerServer } from "./peer-server.ts";
import type { SessionHolder } from "./session-directory.ts";

const containing = (text: string): unknown => expect.stringContaining(text);

/** One HTTP/1.1 request through a tunnel, as the Docker proxy makes it. */
function requestThrough(tunnel: Duplex, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ createConnection: () => tunnel, method: body === undefined ? "GET" : "POST", path, headers: { host: "docker" } }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** Status and body of one raw HTTP/2 request on the peer listener. */
function rawPeerRequest(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("close", () => (status === 0 ? reject(new Error(`closed without an answer (code ${stream.rstCode})`)) : resolve({ status, body })));
    stream.on("error", () => undefined);
  });
}

function connectPeer(port: number, credentials: { ca: string; cert?: string; key?: string }): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: credentials.ca, servername: "", ...(credentials.cert && credentials.key ? { cert: credentials.cert, key: credentials.key } : {}), checkServerIdentity: () => undefined });
  session.on("error", () => undefined);
  return session;
}

/** Whether a TLS client with these credentials gets through the handshake and an HTTP/2 answer. */
function handshakeOutcome(port: number, credentials: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const session = connectPeer(port, credentials);
    const stream = session.request({ ":method": "POST", ":path": "/peer/v1/environments/999999/tunnel" }, { endStream: false });
    stream.on("response", (headers) => {
      resolve(`answered ${headers[":status"]}`);
      session.destroy();
    });
    stream.on("error", (error: Error) => {
      resolve(`refused: ${error.message}`);
      session.destroy();
    });
    session.on("error", (error: Error) => resolve(`refused: ${error.message}`));
    session.on("close", () => resolve("closed without an answer"));
  });
}

/**
 * Two replicas in one process: "A" holds the device's session (the edge fixture: real TLS, real
 * HTTP/2, a test agent serving tunnels to a fake Docker Engine) and its peer listener; "B" holds
 * none and reaches the device through `ClusterTunnels` and its peer client. The database's
 * `edge_sessions` and `replicas` rows are stood in for by `holders` (the directory's answer).
 */
describe("the peer channel: a tunnel opened on replica B reaches the device on replica A over mutual TLS", () => {
  let fixture: EdgeFixture;
  let docker: FakeDocker;
  let agent: TestAgent;
  let environmentId: number;
  let ca: PeerCa;
  let a: PeerCredentials;
  let b: PeerCredentials;
  let peerServer: PeerServer;
  let peerPort: number;
  let replicaA: ReplicaRecord;
  let client: PeerClient;
  let tunnels: ClusterTunnels;
  /** Stand-in for the directory over the database: environment id → holder. */
  const holders = new Map<number, SessionHolder>();
  /** Stand-in for the sealed `cluster_files` and their advisory lock. */
  const vaultFiles = new Map<string, Buffer>();
  let lock: Promise<unknown> = Promise.resolve();
  const vault = {
    read: (name: string) => Promise.resolve(vaultFiles.get(name) ?? null),
    write: (files: readonly { name: string; content: Buffer }[]) => Promise.resolve(void files.forEach((file) => vaultFiles.set(file.name, file.content))),
    withLock: <T>(fn: () => Promise<T>): Promise<T> => {
      const run = lock.then(fn);
      lock = run.catch(() => undefined);
      return run;
    },
  };
  const caKeyPem = () => vaultFiles.get("peer/ca.key")?.toString("utf8") ?? "";
  const logs: string[] = [];
  const log = (level: string, message: string) => logs.push(`${level}: ${message}`);

  beforeAll(async () => {
    fixture = await startEdgeFixture();
    docker = await startFakeDocker();
    agent = await fixture.agent("peer-device");
    agent.serveTunnels(docker);
    environmentId = agent.welcome.environmentId;
    // Two replicas starting at once create one CA (the vault's lock is an in-memory stand-in for the database's).
    const [first, second] = await Promise.all([PeerCa.openOrCreate(vault), PeerCa.openOrCreate(vault)]);
    expect(first.certificatePem).toBe(second.certificatePem);
    expect([...vaultFiles.keys()].sort()).toEqual(["peer/ca.crt", "peer/ca.key"]);
    ca = first;
    a = await ca.issue({ replicaId: "aaaaaaaa-0000-4000-8000-000000000001", peerAddress: "127.0.0.1:1", trustDomain: "pier.local" });
    b = await ca.issue({ replicaId: "bbbbbbbb-0000-4000-8000-000000000002", peerAddress: "127.0.0.1:1", trustDomain: "pier.local" });
    peerServer = new PeerServer({ credentials: a, isLocal: (id) => fixture.edge.isConnected(id), openLocal: (id, options) => fixture.tunnels.open(id, options), log, limits: { tunnelsPerSession: 3 } });
    peerPort = (await peerServer.listen(0, "127.0.0.1")).port;
    const now = new Date();
    replicaA = { id: "aaaaaaaa-0000-4000-8000-000000000001", name: "replica-a", peerAddress: `127.0.0.1:${peerPort}`, startedAt: now, seenAt: now };
    holders.set(environmentId, { replica: replicaA, alive: true, local: false });
    client = new PeerClient({ credentials: () => b, log });
    tunnels = new ClusterTunnels({
      local: { open: (id) => Promise.reject(new ServerError("unavailable", `Environment ${id} has no open edge session, so no tunnel can be opened; the device is offline or polling.`)) },
      isLocal: () => false,
      cluster: { directory: { ownerOf: (id) => Promise.resolve(holders.get(id) ?? null) }, peers: client },
    });
  });
  afterAll(async () => {
    client.close();
    await peerServer.close();
    await agent.close();
    await docker[Symbol.asyncDispose]();
    await fixture[Symbol.asyncDispose]();
  });

  it("issues replica certificates from the peer CA with both EKUs and the replica's URI SAN", () => {
    const certificate = new X509Certificate(b.cert);
    expect(certificate.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(replicaIdOf(certificate.subjectAltName)).toBe("bbbbbbbb-0000-4000-8000-000000000002");
    expect(certificate.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(certificate.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("carries a Docker call made on B to the device on A, and B itself holds no session (the precondition)", async () => {
    expect(fixture.edge.isConnected(environmentId)).toBe(true);
    expect(await tunnels.isReachable(environmentId)).toBe(true);
    const seen = docker.requests.length;
    expect(await requestThrough(await tunnels.open(environmentId), "/_ping")).toEqual({ status: 200, body: "OK" });
    expect(docker.requests.slice(seen).map((r) => r.url)).toEqual(["/_ping"]);
    // Large bodies both ways, paced by flow control end to end.
    const payload = "y".repeat(2 * 1024 * 1024);
    const echoed = await requestThrough(await tunnels.open(environmentId), "/echo", payload);
    expect(echoed.body.length).toBe(payload.length);
    expect(echoed.body === payload).toBe(true);
    // One connection to A carried all of it.
    expect(client.sessionCount).toBe(1);
  });

  it("half-closes both ways across replicas: an attach's input ends, its output still arrives", async () => {
    const tunnel = await tunnels.open(environmentId);
    let text = "";
    tunnel.setEncoding("latin1");
    tunnel.on("data", (chunk: string) => (text += chunk));
    const ended = new Promise<void>((resolve) => tunnel.once("end", () => resolve()));
    tunnel.write("POST /containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    tunnel.write("hello");
    await expect.poll(() => text).toContain("HELLO");
    expect(text).toMatch(/^HTTP\/1\.1 101 UPGRADED/);
    tunnel.end();
    await ended;
    expect(text).toMatch(/HELLObye\n$/);
  });

  it("stops the device's Docker call when B's caller goes away (a followed log)", async () => {
    const tunnel = await tunnels.open(environmentId);
    let text = "";
    tunnel.setEncoding("latin1");
    tunnel.on("data", (chunk: string) => (text += chunk));
    tunnel.write("GET /containers/c1/logs?follow=1 HTTP/1.1\r\nHost: docker\r\n\r\n");
    await expect.poll(() => text).toContain("line 2");
    tunnel.destroy(new ServerError("unavailable", "The client went away."));
    await docker.logsClosed;
  });

  it("answers unavailable naming the replica when the holder is dead, or does not answer", async () => {
    holders.set(4242, { replica: { ...replicaA, seenAt: new Date(Date.now() - 60_000) }, alive: false, local: false });
    await expect(tunnels.open(4242)).rejects.toMatchObject({ code: "unavailable", message: containing("is on replica replica-a (127.0.0.1:") });
    // A port nothing listens on any more: a replica that just died.
    const gone = new PeerServer({ credentials: a, isLocal: () => false, openLocal: () => Promise.reject(new Error("unused")), log });
    const deadPort = (await gone.listen(0, "127.0.0.1")).port;
    await gone.close();
    holders.set(4243, { replica: { ...replicaA, name: "replica-gone", peerAddress: `127.0.0.1:${deadPort}` }, alive: true, local: false });
    await expect(tunnels.open(4243, { timeoutMs: 200 })).rejects.toMatchObject({ code: "unavailable", message: containing("is on replica replica-gone") });
  });

  it("answers 404 from A when the device is not there, which B reports as no open session", async () => {
    holders.set(4244, { replica: replicaA, alive: true, local: false });
    const session = connectPeer(peerPort, b);
    const answer = await rawPeerRequest(session, { ":method": "POST", ":path": "/peer/v1/environments/4244/tunnel" });
    session.destroy();
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "not_found", message: containing("Environment 4244 has no session on this replica") });
    await expect(tunnels.open(4244)).rejects.toMatchObject({ code: "unavailable", message: containing("Environment 4244 has no open edge session") });
  });

  it("refuses B's client when A's certificate names another replica (a stale address)", async () => {
    holders.set(environmentId + 1000, { replica: { ...replicaA, id: "cccccccc-0000-4000-8000-000000000003", name: "replica-c" }, alive: true, local: false });
    await expect(tunnels.open(environmentId + 1000)).rejects.toMatchObject({ code: "unavailable", message: containing("names replica aaaaaaaa-0000-4000-8000-000000000001, not cccccccc") });
  });

  it("refuses in the handshake a client without a certificate, and one with a certificate of another CA (a device's)", async () => {
    expect(await handshakeOutcome(peerPort, b)).toBe("answered 404");
    expect(await handshakeOutcome(peerPort, { ca: ca.certificatePem })).toMatch(/^refused|closed without an answer/);
    const other = await PeerCa.create();
    const device = await other.issue({ replicaId: "bbbbbbbb-0000-4000-8000-000000000002", peerAddress: "127.0.0.1:1", trustDomain: "pier.local" });
    expect(await handshakeOutcome(peerPort, { ca: ca.certificatePem, cert: device.cert, key: device.key })).toMatch(/^refused|closed without an answer/);
    expect(logs.some((line) => line.includes("peer listener: refused a TLS client"))).toBe(true);
  });

  it("refuses a verified peer-CA certificate that names no replica", async () => {
    // Signed by the peer CA, but its URI SAN names an edge device, not a replica.
    const device = signLeaf(caKeyPem(), ca.certificatePem, "spiffe://pier.local/edge/device-1");
    expect(new X509Certificate(device.cert).checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(replicaIdOf(new X509Certificate(device.cert).subjectAltName)).toBeUndefined();
    expect(await handshakeOutcome(peerPort, { ca: ca.certificatePem, cert: device.cert, key: device.key })).toMatch(/^refused: .*REFUSED_STREAM|^closed without an answer$/);
    expect(logs.some((line) => line.includes("its certificate names no replica"))).toBe(true);
    // The same key and CA with a replica's URI gets an answer (the precondition).
    const replica = signLeaf(caKeyPem(), ca.certificatePem, "spiffe://pier.local/replica/dddddddd-0000-4000-8000-000000000004");
    expect(await handshakeOutcome(peerPort, { ca: ca.certificatePem, cert: replica.cert, key: replica.key })).toBe("answered 404");
  });

  it("limits tunnels per peer connection, path length, methods, bodies and paths, each in the error shape", async () => {
    const session = connectPeer(peerPort, b);
    const tunnelPath = `/peer/v1/environments/${environmentId}/tunnel`;
    const held = await Promise.all([0, 1, 2].map(() => openRawTunnel(session, tunnelPath)));
    const over = await rawPeerRequest(session, { ":method": "POST", ":path": tunnelPath });
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body)).toMatchObject({ code: "too_many_requests", message: containing("already carries 3 tunnels") });
    for (const stream of held) stream.close(constants.NGHTTP2_CANCEL);
    const long = await rawPeerRequest(session, { ":method": "POST", ":path": `/peer/v1/environments/${environmentId}/tunnel?${"a".repeat(300)}` });
    expect(long).toMatchObject({ status: 400, body: containing("longer than 256") });
    const method = await rawPeerRequest(session, { ":method": "GET", ":path": tunnelPath });
    expect(method).toMatchObject({ status: 400, body: containing("open a tunnel with POST") });
    const body = await rawPeerRequest(session, { ":method": "POST", ":path": tunnelPath, "content-length": "5" });
    expect(body).toMatchObject({ status: 400, body: containing("has no body") });
    const elsewhere = await rawPeerRequest(session, { ":method": "POST", ":path": "/api/endpoints" });
    expect(elsewhere).toMatchObject({ status: 404, body: containing("serves POST /peer/v1/environments/{id}/tunnel only") });
    // After the refusals, the connection still opens a tunnel (the limit counts open ones).
    const again = await openRawTunnel(session, tunnelPath);
    again.close(constants.NGHTTP2_CANCEL);
    session.destroy();
  });

  it("drops connections over its connection limit, before any handshake", async () => {
    const small = new PeerServer({ credentials: a, isLocal: () => false, openLocal: () => Promise.reject(new Error("unused")), log, limits: { connections: 2 } });
    const port = (await small.listen(0, "127.0.0.1")).port;
    const sockets = [0, 1, 2].map(() => net.connect(port, "127.0.0.1"));
    const closedEarly = await Promise.all(sockets.map((socket) => new Promise<boolean>((resolve) => {
      socket.on("error", () => undefined);
      socket.once("close", () => resolve(true));
      setTimeout(() => resolve(false), 500);
    })));
    expect(closedEarly.filter(Boolean)).toHaveLength(1);
    expect(logs.some((line) => line.includes("peer listener: dropped a connection from 127.0.0.1: 2 are open, the limit"))).toBe(true);
    for (const socket of sockets) socket.destroy();
    await small.close();
  });
});

/** Opens a tunnel on a raw peer session and resolves once A answered 200. */
function openRawTunnel(session: http2.ClientHttp2Session, path: string): Promise<http2.ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path }, { endStream: false });
    stream.on("error", () => undefined);
    stream.once("response", (headers) => (headers[":status"] === 200 ? resolve(stream) : reject(new Error(`answered ${headers[":status"]}`))));
  });
}

/** A leaf of the peer CA with both EKUs and the one URI SAN given, made with `@pier/pki` directly. */
function signLeaf(caKey: string, caPem: string, uri: string): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ecdsa-p256");
  const caCertificate = parseCertificate(new X509Certificate(caPem).raw);
  const der = signCertificate({
    subject: encodeName({ commonName: "not a replica" }),
    issuer: caCertificate.subjectDer,
    publicKey,
    signingKey: loadPrivateKey(Buffer.from(caKey)),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    extensions: profileExtensions("server", { subjectKey: publicKey, issuerKeyId: keyIdentifier(caCertificate.publicKey), subjectAltNames: [{ type: "uri", value: uri }], extendedKeyUsages: ["serverAuth", "clientAuth"] }),
  });
  return { cert: certificateToPem(der), key: privateKeyToPem(privateKey) };
}
