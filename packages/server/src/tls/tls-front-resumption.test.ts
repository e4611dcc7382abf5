import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, exchange, mtlsServerRequest, testHandler } from "./tls-fixtures.testkit.ts";
import { type TlsRefusal, TlsFront } from "./tls-front.ts";
import { type TlsMaterial, loadTlsMaterial } from "./tls-material.ts";
import { SessionTicketKeys } from "./session-tickets.ts";

/** The JSON body of an `exchange`'s 200 answer (testHandler's view of the connection). */
function identityIn(answer: string): { authorized: boolean; peer?: string } {
  expect(answer).toMatch(/^HTTP\/1\.1 200/);
  return JSON.parse(answer.slice(answer.indexOf("{"), answer.lastIndexOf("}") + 1)) as { authorized: boolean; peer?: string };
}

describe("TlsFront: TLS session resumption across restarts", () => {
  let pki: TestPki;
  let ca: TestCa;
  let server: Credential;
  let device: Credential;
  let material: TlsMaterial;

  beforeAll(async () => {
    pki = createTestPki();
    ca = await pki.createCa("Resumption Test CA");
    server = await pki.issue(ca, "mtls-server", mtlsServerRequest());
    device = await pki.issue(ca, "device", { ...clientRequest("device-resumed"), days: 1 });
    material = await loadTlsMaterial({ certPath: server.certPath, keyPath: server.keyPath, caPath: ca.caPath, role: "server" });
  });
  afterAll(async () => {
    await pki[Symbol.asyncDispose]();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function start(sessionTickets?: SessionTicketKeys) {
    const refusals: TlsRefusal[] = [];
    const front = new TlsFront({ material: { server: material }, policy: { mode: "whole-listener" }, handler: testHandler, onRefusal: (r) => refusals.push(r), ...(sessionTickets ? { sessionTickets } : {}) });
    const { port } = await front.listen(0, "127.0.0.1");
    return { front, port, refusals };
  }

  it("a restarted server with the same ticket key file resumes a device's session, with the certificate it was made with", async () => {
    const keyFile = pki.file("restart/secrets/tls-tickets.key");
    const before = await start(SessionTicketKeys.load(keyFile));
    const first = await exchange(before.port, ca.pem, device);
    await before.front.close();
    expect(identityIn(first.answer).peer).toContain("device-resumed");
    expect(first.session).toBeDefined();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(pki.file("restart/secrets")).mode & 0o777).toBe(0o700);
    expect(readFileSync(keyFile)).toHaveLength(48);

    // Precondition: a server whose key was not kept makes a full handshake of the same offer.
    const forgetful = await start();
    try {
      const full = await exchange(forgetful.port, ca.pem, device, first.session);
      expect(full.resumed).toBe(false);
      expect(identityIn(full.answer).peer).toContain("device-resumed");
    } finally {
      await forgetful.front.close();
    }

    const after = await start(SessionTicketKeys.load(keyFile));
    try {
      const resumed = await exchange(after.port, ca.pem, device, first.session);
      expect(resumed.resumed).toBe(true);
      // The resumed connection carries the certificate of the full handshake, verified then.
      const identity = identityIn(resumed.answer);
      expect(identity.authorized).toBe(true);
      expect(identity.peer).toContain("device-resumed");
      expect(after.refusals).toEqual([]);
    } finally {
      await after.front.close();
    }
  });

  it("tickets are bound to the trust they were issued under: a changed CA bundle, in a reload or across a restart, makes a full handshake", async () => {
    const other = await pki.createCa("Another Test CA");
    const bundlePath = pki.file("bundle.ca.crt");
    writeFileSync(bundlePath, `${ca.pem}${other.pem}`);
    const widened = await loadTlsMaterial({ certPath: server.certPath, keyPath: server.keyPath, caPath: bundlePath, role: "server" });
    const keyFile = pki.file("trust/tls-tickets.key");
    const { front, port } = await start(SessionTicketKeys.load(keyFile));
    let session: Buffer | undefined;
    try {
      const first = await exchange(port, ca.pem, device);
      // A reload that changes nothing the tickets are bound to keeps them.
      front.reload({ server: material });
      const same = await exchange(port, ca.pem, device, first.session);
      expect(same.resumed).toBe(true);
      front.reload({ server: widened });
      const afterReload = await exchange(port, ca.pem, device, first.session);
      expect(afterReload.resumed).toBe(false);
      expect(identityIn(afterReload.answer).peer).toContain("device-resumed");
      session = afterReload.session;
      expect((await exchange(port, ca.pem, device, session)).resumed).toBe(true);
    } finally {
      await front.close();
    }
    // The operator narrows the CA file while the server is stopped: same key file, other trust.
    const restarted = new TlsFront({ material: { server: material }, policy: { mode: "whole-listener" }, handler: testHandler, sessionTickets: SessionTicketKeys.load(keyFile) });
    const restartedPort = (await restarted.listen(0, "127.0.0.1")).port;
    try {
      const afterRestart = await exchange(restartedPort, ca.pem, device, session);
      expect(afterRestart.resumed).toBe(false);
      expect(identityIn(afterRestart.answer).peer).toContain("device-resumed");
    } finally {
      await restarted.close();
    }
  });

  it("refuses a resumed session whose certificate expired since the ticket was issued", async () => {
    const { front, port, refusals } = await start(SessionTicketKeys.inMemory());
    try {
      const first = await exchange(port, ca.pem, device);
      expect(identityIn(first.answer).peer).toContain("device-resumed");
      // The certificate is valid for a day; the server's clock (JavaScript's) moves two days on.
      // OpenSSL's own ticket-age check runs on the real clock, so the ticket itself still resumes.
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 2 * 86_400_000 });
      const expired = await exchange(port, ca.pem, device, first.session);
      expect(expired.resumed).toBe(true);
      expect(expired.answer).toBe("");
      expect(refusals.map((refusal) => refusal.failure.code)).toEqual(["client_certificate_expired"]);
      expect(refusals[0]?.failure.cause).toMatch(/expired on .*it tried to resume a TLS session made while it was valid/);
      expect(refusals[0]?.peerCertificate?.subject).toContain("device-resumed");
    } finally {
      vi.useRealTimers();
      await front.close();
    }
  });

  it("replaces a key a day old at start: its tickets no longer resume", async () => {
    const keyFile = pki.file("aged/tls-tickets.key");
    const before = await start(SessionTicketKeys.load(keyFile));
    const first = await exchange(before.port, ca.pem, device);
    await before.front.close();
    const keyBefore = readFileSync(keyFile);
    const dayAgo = new Date(Date.now() - 86_400_000 - 60_000);
    utimesSync(keyFile, dayAgo, dayAgo);
    const after = await start(SessionTicketKeys.load(keyFile));
    try {
      expect(readFileSync(keyFile).equals(keyBefore)).toBe(false);
      const full = await exchange(after.port, ca.pem, device, first.session);
      expect(full.resumed).toBe(false);
      expect(identityIn(full.answer).peer).toContain("device-resumed");
    } finally {
      await after.front.close();
    }
  });

  it("replaces a key file that holds no key (wrong length) with a new key, 0600", () => {
    const keyFile = pki.file("bad/tls-tickets.key");
    SessionTicketKeys.load(keyFile);
    writeFileSync(keyFile, "not a key", { mode: 0o644 });
    SessionTicketKeys.load(keyFile);
    expect(readFileSync(keyFile)).toHaveLength(48);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });
});
