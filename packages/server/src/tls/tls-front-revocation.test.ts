import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RevocationRegistry } from "../identity/revocations.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, exchange, mtlsServerRequest, names, openSession, sessionGet, testHandler } from "./tls-fixtures.testkit.ts";
import { type TlsRefusal, TlsFront } from "./tls-front.ts";
import { loadTlsMaterial } from "./tls-material.ts";

describe("TlsFront: revoked client certificates", () => {
  let pki: TestPki;
  let ca: TestCa;
  let server: Credential;
  let device: Credential;
  let other: Credential;

  beforeAll(async () => {
    pki = createTestPki();
    ca = await pki.createCa("Revocation Test CA");
    server = await pki.issue(ca, "mtls-server", mtlsServerRequest());
    device = await pki.issue(ca, "device", clientRequest("device-1"));
    other = await pki.issue(ca, "other", clientRequest("device-2"));
  });
  afterAll(async () => {
    await pki[Symbol.asyncDispose]();
  });

  async function start(revocations: RevocationRegistry) {
    const refusals: TlsRefusal[] = [];
    const material = await loadTlsMaterial({ certPath: server.certPath, keyPath: server.keyPath, caPath: ca.caPath, role: "server" });
    const front = new TlsFront({ material: { server: material }, policy: { mode: "whole-listener" }, handler: testHandler, onRefusal: (r) => refusals.push(r), revocations });
    const { port } = await front.listen(0, "127.0.0.1");
    return { front, port, refusals };
  }

  const entryFor = (credential: Credential) => {
    const certificate = new X509Certificate(credential.certPem);
    return { issuer: certificate.issuer, serial: certificate.serialNumber };
  };

  it("refuses a resumed TLS session whose certificate was revoked after the ticket was issued", async () => {
    const revocations = new RevocationRegistry();
    const { front, port, refusals } = await start(revocations);
    try {
      const first = await exchange(port, ca.pem, device);
      expect(first.answer).toMatch(/^HTTP\/1\.1 200/);
      expect(first.session).toBeDefined();
      // Precondition: the server resumes sessions, so the next check is about a resumed one.
      const resumedBefore = await exchange(port, ca.pem, device, first.session);
      expect(resumedBefore.resumed).toBe(true);
      expect(resumedBefore.answer).toMatch(/^HTTP\/1\.1 200/);

      revocations.add("built-in", [entryFor(device)]);
      // Ticket keys deliberately not rotated: the check at handshake end alone must refuse it.
      const resumedAfter = await exchange(port, ca.pem, device, first.session);
      expect(resumedAfter.resumed).toBe(true);
      expect(resumedAfter.answer).toBe("");
      const serial = new X509Certificate(device.certPem).serialNumber.toLowerCase();
      expect(refusals.map((r) => r.failure.code)).toEqual(["client_certificate_revoked"]);
      expect(refusals[0]?.failure.cause).toContain(`serial ${serial}`);
      expect(refusals[0]?.failure.cause).toContain("resume a TLS session");
      expect(refusals[0]?.peerCertificate?.serialNumber).toBe(new X509Certificate(device.certPem).serialNumber);

      // A full handshake with the revoked certificate is refused too; another device is not.
      expect((await exchange(port, ca.pem, device)).answer).toBe("");
      expect((await exchange(port, ca.pem, other)).answer).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await front.close();
    }
  });

  it("rotateTicketKeys makes old session tickets unusable (a full handshake follows)", async () => {
    const { front, port } = await start(new RevocationRegistry());
    try {
      const first = await exchange(port, ca.pem, other);
      expect((await exchange(port, ca.pem, other, first.session)).resumed).toBe(true);
      front.rotateTicketKeys();
      const after = await exchange(port, ca.pem, other, first.session);
      expect(after.resumed).toBe(false);
      expect(after.answer).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await front.close();
    }
  });

  it("closeConnections closes the open connections whose certificate matches, and only those", async () => {
    const revocations = new RevocationRegistry();
    const { front, port } = await start(revocations);
    const revoked = openSession(port, { servername: names.mtls, ca: ca.pem, cert: device.certPem, key: device.keyPem });
    const kept = openSession(port, { servername: names.mtls, ca: ca.pem, cert: other.certPem, key: other.keyPem });
    try {
      expect((await sessionGet(revoked, "/who")).status).toBe(200);
      expect((await sessionGet(kept, "/who")).status).toBe(200);
      const closedAt = new Promise<number>((resolve) => revoked.once("close", () => resolve(Date.now())));
      revocations.add("built-in", [entryFor(device)]);
      const started = Date.now();
      expect(front.closeConnections((certificate) => revocations.isRevoked(certificate))).toBe(1);
      expect((await closedAt) - started).toBeLessThan(1000);
      expect(kept.closed || kept.destroyed).toBe(false);
      expect((await sessionGet(kept, "/who")).status).toBe(200);
    } finally {
      revoked.destroy();
      kept.destroy();
      await front.close();
    }
  });
});
