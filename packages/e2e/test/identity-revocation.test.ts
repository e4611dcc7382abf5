import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import tls from "node:tls";
import { PierApi, enrollZeroTouchAgent, openssl, pier, run, startBuiltInCaServer, tempDir, until, type PierProcess, type PierServer, type TempDir } from "../src/index.ts";

/**
 * Revocation that takes effect at once (docs/identity.md "Revocation") with real processes: a
 * server with its built-in CA, zero-touch agents that enroll and connect with the certificate it
 * issued, a real Docker tunnel through the proxy, real TLS clients and real openssl reading the
 * published CRL. One server for the whole file.
 */
const password = "correct horse battery staple";
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let jwt: string;
const agents = new Map<string, PierProcess>();

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Pier: { Connected: boolean };
}

const caPem = () => readFileSync(dir.file("data/ca/ca.crt"));

async function endpoints(): Promise<Endpoint[]> {
  const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
  expect(res.status).toBe(200);
  return res.body;
}

/** Starts a zero-touch agent, associates it, and waits until it is connected with its certificate. */
async function enrolledAgent(edgeId: string): Promise<{ agent: PierProcess; id: number; certificate: X509Certificate }> {
  const { agent, id, certificatePath } = await enrollZeroTouchAgent({ server, api, dir }, edgeId);
  agents.set(edgeId, agent);
  // The session opened after association is the one made with the certificate (the first one
  // waited without one): the API shows the device connected, associated, presenting it.
  const shown = await until(
    `${edgeId} connected with its certificate`,
    async () => {
      const res = await api.call<Endpoint & { Pier: { ClientCertificate: { SerialNumber: string } | null } }>("GET", `/api/endpoints/${id}`);
      return res.status === 200 && res.body.UserTrusted && res.body.Pier.Connected && res.body.Pier.ClientCertificate ? res.body.Pier.ClientCertificate : undefined;
    },
    30_000,
  );
  const certificate = new X509Certificate(readFileSync(certificatePath));
  expect(BigInt(`0x${shown.SerialNumber.replace(/:/g, "")}`)).toBe(BigInt(`0x${certificate.serialNumber}`));
  return { agent, id, certificate };
}

/** GET without credentials, as bytes. */
function getBytes(path: string): Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "localhost", port: server.httpsPort, path, ca: caPem() }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The published CRL, written as PEM for openssl's -CRLfile; also returns `openssl crl -text` of the DER. */
async function publishedCrl(name: string): Promise<{ pemPath: string; text: string }> {
  const crl = await getBytes("/api/pki/crl");
  expect(crl.status).toBe(200);
  expect(crl.headers["content-type"]).toBe("application/pkix-crl");
  const derPath = dir.file(`${name}.crl.der`);
  writeFileSync(derPath, crl.body);
  const pemPath = dir.file(`${name}.crl.pem`);
  openssl(["crl", "-inform", "DER", "-in", derPath, "-outform", "PEM", "-out", pemPath]);
  return { pemPath, text: openssl(["crl", "-inform", "DER", "-in", derPath, "-text", "-noout"]) };
}

/** `openssl verify -crl_check` of a device certificate against the CA and a CRL. */
function verifyWithCrl(certificate: X509Certificate, crlPath: string): { ok: boolean; output: string } {
  const certPath = dir.file(`verify-${certificate.serialNumber}.pem`);
  writeFileSync(certPath, certificate.toString());
  const result = run("openssl", ["verify", "-crl_check", "-CAfile", dir.file("data/ca/ca.crt"), "-CRLfile", crlPath, certPath]);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** A real TLS client presenting the agent's certificate and key to the tunnel listener: does it get an answer? */
function handshakeWith(edgeId: string): Promise<{ handshake: boolean; answer: string }> {
  return new Promise((resolve) => {
    let answer = "";
    let handshake = false;
    const socket = tls.connect({
      host: "127.0.0.1",
      port: server.tunnelPort,
      servername: "localhost",
      ca: caPem(),
      cert: readFileSync(dir.file(`agent-${edgeId}/identity/current.crt`)),
      key: readFileSync(dir.file(`agent-${edgeId}/identity/current.key`)),
      // The server certificate is checked by the pin in real agents; here only the client side matters.
      rejectUnauthorized: false,
    });
    socket.on("secureConnect", () => {
      handshake = true;
      socket.write("GET /api/edge/v1/nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ handshake, answer }));
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

beforeAll(async () => {
  dir = tempDir("identity-revocation");
  ({ server, api } = await startBuiltInCaServer(dir, password));
  const login = await api.call<{ jwt: string }>("POST", "/api/auth", { Username: "admin", Password: password });
  jwt = login.body.jwt;
}, 60_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.stop()));
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

describe("revocation with real agents", () => {
  it("closes the live session and an open Docker tunnel in under 1 s, refuses new handshakes, and the published CRL lists the serial for openssl", async () => {
    const { agent, id, certificate } = await enrolledAgent("rev-a");
    const serial = certificate.serialNumber.toLowerCase();

    // Preconditions: the certificate works (handshake answered), the CRL exists and does not list it.
    const before = await handshakeWith("rev-a");
    expect(before.answer).toMatch(/^HTTP\/1\.1 /);
    const crlBefore = await publishedCrl("before");
    expect(crlBefore.text).not.toContain(serial.toUpperCase());
    expect(verifyWithCrl(certificate, crlBefore.pemPath).ok).toBe(true);

    // A long Docker request through the proxy: the tunnel stays open while the engine streams events.
    let tunnelOpen!: () => void;
    const opened = new Promise<void>((resolve) => (tunnelOpen = resolve));
    const tunnelClosed = new Promise<number>((resolve, reject) => {
      const req = request({ host: "localhost", port: server.httpsPort, path: `/api/endpoints/${id}/docker/events`, ca: caPem(), headers: { authorization: `Bearer ${jwt}` } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`GET /events through the tunnel answered ${res.statusCode}`));
        tunnelOpen();
        res.on("data", () => undefined);
        res.on("close", () => resolve(Date.now()));
        res.on("error", () => resolve(Date.now()));
      });
      req.on("error", () => resolve(Date.now()));
      req.end();
    });
    await opened;
    const revokedLine = agent.waitFor(/an administrator revoked this device's/, 10_000).then(() => Date.now());

    const started = Date.now();
    const revoked = await api.call<{ Serials: string[]; Reason: string; TunnelsClosed: number }>("POST", `/api/endpoints/${id}/certificate/revoke`, { Reason: "keyCompromise" });
    const answeredAfterMs = Date.now() - started;
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ Serials: [serial], Reason: "keyCompromise", TunnelsClosed: 1 });
    const tunnelMs = (await tunnelClosed) - started;
    const sessionMs = (await revokedLine) - started;
    console.log(`revocation: API answered after ${answeredAfterMs} ms, tunnel closed after ${tunnelMs} ms, agent told after ${sessionMs} ms`);
    expect(tunnelMs).toBeLessThan(1000);
    expect(sessionMs).toBeLessThan(1000);
    await until("rev-a offline", async () => ((await endpoints()).find((e) => e.Id === id)?.Pier.Connected === false ? true : undefined), 5000);

    // New handshakes with the revoked certificate are refused, and audited with its serial.
    const after = await handshakeWith("rev-a");
    expect(after.answer).toBe("");
    await server.waitFor(new RegExp(`refused a TLS client .*serial ${serial}.* is revoked`), 5000);

    // The CRL, signed again at the revocation, lists it; openssl refuses the certificate with it.
    const crlAfter = await publishedCrl("after");
    expect(crlAfter.text).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect(crlAfter.text).toContain("Key Compromise");
    const verified = verifyWithCrl(certificate, crlAfter.pemPath);
    expect(verified.ok).toBe(false);
    expect(verified.output).toContain("certificate revoked");

    const events = await api.call<{ Kind: string; Detail: Record<string, unknown> }[]>("GET", `/api/endpoints/${id}/events`);
    expect(JSON.stringify(events.body)).toContain("certificate_revoked");

    // Again: nothing left to revoke.
    const again = await api.call<{ message: string }>("POST", `/api/endpoints/${id}/certificate/revoke`);
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already revoked/);
  });

  it("refuses an unknown or over-long reason (400), an unknown environment (404), and serves the CRL without credentials", async () => {
    const bad = await api.call<{ field?: string }>("POST", "/api/endpoints/1/certificate/revoke", { Reason: "boredom" });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe("Reason");
    const long = await api.call<{ field?: string }>("POST", "/api/endpoints/1/certificate/revoke", { Reason: "k".repeat(65) });
    expect(long.status).toBe(400);
    expect(long.body.field).toBe("Reason");
    expect((await api.call("POST", "/api/endpoints/9999/certificate/revoke", {})).status).toBe(404);
    const anonymous = new PierApi(`https://localhost:${server.httpsPort}`, { ca: caPem() });
    expect((await anonymous.call("POST", "/api/endpoints/1/certificate/revoke", {})).status).toBe(401);
    const crl = await getBytes("/api/pki/crl");
    expect(crl.status).toBe(200);
    expect(crl.headers["cache-control"]).toMatch(/max-age=\d+/);
  });

  it("removing an environment revokes its certificate: the CRL lists it and its handshakes are refused", async () => {
    const { id, certificate } = await enrolledAgent("rev-c");
    const serial = certificate.serialNumber.toLowerCase();
    expect((await handshakeWith("rev-c")).answer).toMatch(/^HTTP\/1\.1 /);
    expect((await api.call("DELETE", `/api/endpoints/${id}`)).status).toBe(204);
    const crl = await publishedCrl("removed");
    expect(crl.text).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect(crl.text).toContain("Cessation Of Operation");
    expect((await handshakeWith("rev-c")).answer).toBe("");
  });

  it("pier ca revoke SERIAL --dir DATA/ca against the running server closes the device's session and lists it in the CRL", async () => {
    const { agent, id, certificate } = await enrolledAgent("rev-b");
    const serial = certificate.serialNumber.toLowerCase();
    const revokedLine = agent.waitFor(/an administrator revoked this device's/, 10_000);
    const result = pier(["ca", "revoke", "--dir", dir.file("data/ca"), serial, "--reason", "superseded"]);
    expect(result.status).toBe(0);
    await revokedLine;
    await until("rev-b offline", async () => ((await endpoints()).find((e) => e.Id === id)?.Pier.Connected === false ? true : undefined), 5000);
    expect((await handshakeWith("rev-b")).answer).toBe("");
    const crl = await publishedCrl("cli");
    expect(crl.text).toContain(`Serial Number: ${serial.toUpperCase()}`);
  });
});
