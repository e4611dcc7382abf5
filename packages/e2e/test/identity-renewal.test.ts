import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import http2, { type ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCsr, csrToPem, generateKeyPairSync, spkiSha256 } from "@pier/pki";
import { startBuiltInCaServer, startPierAgent, tempDir, until, type PierApi, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * The server side of renewal and expiry (docs/identity.md "Renewal", state "expired") with a
 * real server process: devices enroll with real agents (no certificate flags) and are then
 * stopped; the test speaks for them over real mTLS with the key and certificate the agent kept
 * in DATA/identity/. One server, 30 s device certificates (under 60 s with the test-only
 * PIER_SERVER_TEST_SHORT_CERTS, so the expiry comes ~30 s sooner), renewals limited to 1 per second.
 */
const password = "correct horse battery staple";
const renewPath = "/api/edge/v1/certificate/renew";
const sessionPath = "/api/edge/v1/session";
let dir: TempDir;
let server: PierServer;
let api: PierApi;
const agents = new Map<string, PierProcess>();
const connections: ClientHttp2Session[] = [];

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Pier: {
    Connected: boolean;
    ClientCertificate: { SerialNumber: string } | null;
    Identity: { Reenrollment: { PreviousSerial: string; SameKey: boolean } | null; EnrollmentKeyFingerprint: string | null };
  };
}

/** A device's pair as its agent stored it. */
interface Pair {
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
  readonly notAfter: Date;
}

async function endpoint(edgeId: string): Promise<Endpoint | undefined> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  expect(res.status).toBe(200);
  return res.body.find((e) => e.EdgeID === edgeId);
}

function pairOf(edgeId: string): Pair {
  const identity = dir.file(`agent-${edgeId}/identity`);
  const cert = readFileSync(join(identity, "current.crt"), "utf8");
  const x509 = new X509Certificate(cert);
  return { cert, key: readFileSync(join(identity, "current.key"), "utf8"), serial: x509.serialNumber.toLowerCase(), notAfter: x509.validToDate };
}

/** Starts a zero-touch agent and waits until it is in the waiting room; returns its environment. */
async function waitingRoom(edgeId: string): Promise<Endpoint> {
  const agent = startPierAgent({ edgeId, edgeKey: server.edgeKey, dataDir: dir.file(`agent-${edgeId}`) });
  agents.set(edgeId, agent);
  return until(`${edgeId} in the waiting room`, async () => {
    const e = await endpoint(edgeId);
    return e && !e.UserTrusted && e.Pier.Identity.EnrollmentKeyFingerprint ? e : undefined;
  }, 30_000);
}

/** Associates a waiting device (its certificate is issued now) and waits until it connected with its certificate. */
async function associate(waiting: Endpoint): Promise<void> {
  expect((await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`)).status).toBe(204);
  await until(`${waiting.EdgeID} connected with its certificate`, async () => ((await endpoint(waiting.EdgeID))?.Pier.ClientCertificate ? true : undefined), 30_000);
}

/** Starts a zero-touch agent, associates it, and waits until it connected with its certificate. */
async function enroll(edgeId: string): Promise<void> {
  await associate(await waitingRoom(edgeId));
}

/** An HTTP/2 connection to the tunnel listener presenting `pair` (verifying the server by the built-in CA). */
function connect(pair: Pick<Pair, "cert" | "key">): ClientHttp2Session {
  const connection = http2.connect(`https://localhost:${server.tunnelPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")), cert: pair.cert, key: pair.key });
  connection.on("error", () => undefined);
  connections.push(connection);
  return connection;
}

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: string;
}

function post(connection: ClientHttp2Session, path: string, body: string, headers: http2.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = connection.request({ ":method": "POST", ":path": path, "content-type": "application/json", ...headers });
    let answer: http2.IncomingHttpHeaders | undefined;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (answer = h));
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("close", () => (answer ? resolve({ status: Number(answer[":status"]), headers: answer, body: text }) : reject(new Error(`no answer (stream code ${stream.rstCode})`))));
    stream.on("error", () => undefined);
    stream.end(body);
  });
}

const newCsr = (commonName = "ignored") => {
  const pair = generateKeyPairSync("ecdsa-p256");
  return { pem: csrToPem(createCsr({ privateKey: pair.privateKey, subject: { commonName } })), keySha256: spkiSha256(pair.publicKey) };
};

/** Opens a session as the agent does (NDJSON over HTTP/2), says hello, and collects the server's frames. */
function openSession(pair: Pick<Pair, "cert" | "key">, edgeId: string, csr?: string): { frames: Record<string, unknown>[]; closed: Promise<void> } {
  const stream = connect(pair).request({ ":method": "POST", ":path": sessionPath, "content-type": "application/x-ndjson" }, { endStream: false });
  const frames: Record<string, unknown>[] = [];
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      frames.push(JSON.parse(buffered.slice(0, end)) as Record<string, unknown>);
      buffered = buffered.slice(end + 1);
    }
  });
  stream.on("error", () => undefined);
  const hello = { type: "hello", protocol: 1, environmentId: 0, agent: { edgeId, agentVersion: "0.0.0-e2e", platform: "docker", hostname: edgeId, os: "linux", arch: "amd64" }, ...(csr === undefined ? {} : { csr }) };
  stream.write(`${JSON.stringify(hello)}\n`);
  // A heartbeat a second (the check-in interval), as the agent sends them, until the stream closes.
  let seq = 0;
  const beat = setInterval(() => {
    if (!stream.closed) stream.write(`${JSON.stringify({ type: "heartbeat", seq: (seq += 1) })}\n`);
  }, 1000);
  const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
  void closed.then(() => clearInterval(beat));
  return { frames, closed };
}

beforeAll(async () => {
  dir = tempDir("identity-renewal");
  ({ server, api } = await startBuiltInCaServer(dir, password, ["--device-cert-lifetime", "30s", "--renewal-rate", "1"], { env: { PIER_SERVER_TEST_SHORT_CERTS: "1" } }));
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status).toBe(200);
  // All four wait first, then are associated together: their 30 s certificates are issued within
  // moments of each other, however long the agents took to start.
  const waiting = await Promise.all(["renew-a", "renew-b", "expire-a", "expire-b"].map(waitingRoom));
  await Promise.all(waiting.map(associate));
  // The test speaks for these devices ("live", enrolled by its test, keeps its agent): their agents stop before they would renew.
  await Promise.all(["renew-a", "renew-b", "expire-a", "expire-b"].map((edgeId) => agents.get(edgeId)?.stop() ?? Promise.resolve()));
}, 120_000);

afterAll(async () => {
  for (const connection of connections) connection.destroy();
  await Promise.all([...agents.values()].map((agent) => agent.stop()));
  await server?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("certificate renewal and expiry, server side", () => {
  it("renews over the device's mTLS connection: a new certificate for the CSR's key, named from the record; 413 past 16 KiB; 429 with Retry-After past --renewal-rate", async () => {
    const a = pairOf("renew-a");
    const csr = newCsr("renew-b");
    const connection = connect(a);
    const renewed = await post(connection, renewPath, JSON.stringify({ csr: csr.pem }));
    expect(renewed.status).toBe(200);
    const grant = JSON.parse(renewed.body) as { certificate: string; chain: string; trustBundle: string };
    const issued = new X509Certificate(grant.certificate);
    expect(spkiSha256(issued.publicKey)).toBe(csr.keySha256);
    // The CSR asked for renew-b: the certificate names the device that presented its certificate.
    expect(issued.subject).toBe("CN=renew-a");
    expect(issued.subjectAltName).toContain("/edge/renew-a");
    expect(issued.serialNumber.toLowerCase()).not.toBe(a.serial);
    expect(issued.checkIssued(new X509Certificate(readFileSync(dir.file("data/ca/ca.crt"))))).toBe(true);
    const id = (await endpoint("renew-a"))?.Id;
    const events = await api.call<{ Kind: string; Detail: Record<string, unknown> }[]>("GET", `/api/endpoints/${id}/events`);
    expect(events.body.find((event) => event.Kind === "certificate_renewed")?.Detail).toMatchObject({ oldSerial: a.serial, newSerial: issued.serialNumber.toLowerCase() });

    // A body declared past 16 KiB is refused on its header, with nothing read.
    const declared = connection.request({ ":method": "POST", ":path": renewPath, "content-length": 16 * 1024 + 1 }, { endStream: false });
    declared.on("error", () => undefined);
    declared.resume();
    declared.write(Buffer.alloc(16));
    expect(await new Promise((resolve) => declared.once("response", (headers) => resolve(headers[":status"])))).toBe(413);

    // --renewal-rate 1: a second renewal within the same second is deferred, with a Retry-After.
    const b = pairOf("renew-b");
    const first = await post(connect(b), renewPath, JSON.stringify({ csr: newCsr().pem }));
    const second = await post(connect(a), renewPath, JSON.stringify({ csr: newCsr().pem }));
    const deferred = [first, second].find((answer) => answer.status === 429);
    expect(deferred).toBeDefined();
    expect(Number(deferred?.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(deferred?.body ?? "{}")).toMatchObject({ code: "too_many_requests" });
  }, 60_000);

  it("tells an online device to renew when an administrator asks (202), and answers 409 for an offline one", async () => {
    // Enrolled here, so its 30 s certificate is fresh: the request comes well before its own schedule.
    await enroll("live");
    const live = await endpoint("live");
    const { serial: before, notAfter } = pairOf("live");
    const asked = await api.call<{ Serial: string }>("POST", `/api/endpoints/${live?.Id}/certificate/renew`);
    expect(asked.status).toBe(202);
    await until("the live agent renewed on request", () => Promise.resolve(pairOf("live").serial !== before ? true : undefined), 30_000);
    // Sooner than its own schedule could have renewed it: ⅔ of 30 s at the earliest, 10 s before expiry.
    expect(Date.now()).toBeLessThan(notAfter.getTime() - 10_000);
    const offline = await endpoint("renew-b");
    const refused = await api.call<{ message: string }>("POST", `/api/endpoints/${offline?.Id}/certificate/renew`);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain("offline");
  }, 60_000);

  it("closes a session when its certificate expires; the expired certificate then re-enrolls through the waiting room (same key), or at once within AutoReissueWithinSeconds", async () => {
    const expiring = pairOf("expire-a");
    const session = openSession(expiring, "expire-a");
    await until("the session was welcomed", () => Promise.resolve(session.frames.find((frame) => frame["type"] === "welcome")), 10_000);
    expect((await endpoint("expire-a"))?.Pier.Connected).toBe(true);
    // The server closes it at expiry (30 s after issuance), saying why.
    const waitMs = expiring.notAfter.getTime() - Date.now();
    expect(waitMs).toBeGreaterThan(0);
    await Promise.race([session.closed, new Promise((resolve) => setTimeout(resolve, waitMs + 5_000))]);
    expect(session.frames.at(-1)).toMatchObject({ type: "refused", code: "certificate_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(expiring.notAfter.getTime());

    // Back with the expired certificate and a new CSR: the waiting room, "expired, same key as <serial>".
    const csr = newCsr();
    const back = openSession(expiring, "expire-a", csr.pem);
    const welcome = await until("the re-enrollment welcome", () => Promise.resolve(back.frames.find((frame) => frame["type"] === "welcome")), 10_000);
    expect(welcome).toMatchObject({ status: "waiting" });
    const waiting = await endpoint("expire-a");
    expect(waiting?.UserTrusted).toBe(false);
    expect(waiting?.Pier.Identity.Reenrollment).toMatchObject({ PreviousSerial: expiring.serial, SameKey: true });
    // Association issues for the new key, on the open session.
    expect((await api.call("POST", `/api/endpoints/${waiting?.Id}/edge/trust`)).status).toBe(204);
    const delivered = await until("the certificate frame", () => Promise.resolve(back.frames.find((frame) => frame["type"] === "certificate")), 10_000);
    const reissued = new X509Certificate((delivered["grant"] as { certificate: string }).certificate);
    expect(spkiSha256(reissued.publicKey)).toBe(csr.keySha256);
    expect(reissued.subject).toBe("CN=expire-a");

    // With AutoReissueWithinSeconds, a device whose certificate expired moments ago gets a new one at once.
    expect((await api.call("PUT", "/api/settings", { AutoReissueWithinSeconds: 3600 })).status).toBe(200);
    const other = pairOf("expire-b");
    expect(other.notAfter.getTime()).toBeLessThan(Date.now());
    const again = newCsr();
    const auto = openSession(other, "expire-b", again.pem);
    const autoWelcome = await until("the auto re-issue welcome", () => Promise.resolve(auto.frames.find((frame) => frame["type"] === "welcome")), 10_000);
    expect(autoWelcome).toMatchObject({ status: "associated" });
    const autoIssued = new X509Certificate((autoWelcome["certificate"] as { certificate: string }).certificate);
    expect(spkiSha256(autoIssued.publicKey)).toBe(again.keySha256);
    expect((await endpoint("expire-b"))?.UserTrusted).toBe(true);
  }, 120_000);
});
