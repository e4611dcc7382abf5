import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { CertificateAuthority, caPaths, certificateToPem, createCsr, csrToPem, encodeName, generateKeyPairSync, keyIdentifier, profileExtensions, signCertificate, spkiSha256, type KeyPair } from "@pier/pki";
import type { Hello, ServerMessage } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { EdgeService } from "../edge/edge-service.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { DeviceCa, deviceUri } from "./device-ca.ts";
import { Enrollment } from "./enrollment.ts";
import { RevocationRegistry } from "./revocations.ts";

interface Context {
  store: SqliteStore;
  edge: EdgeService;
  ca: CertificateAuthority;
}

async function withReenrollment(test: (context: Context) => Promise<void>, revocations?: RevocationRegistry): Promise<void> {
  await using dir = tempDir("reenrollment");
  await using store = await SqliteStore.open(dir.file("pier.db"));
  const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier built-in CA (test)" });
  const deviceCa = await DeviceCa.open({ store, authorities: { issuing: ca, trusted: [ca] }, crlUrl: () => Promise.resolve(undefined) });
  const edge = new EdgeService(store, { record: () => undefined }, { identity: new Enrollment({ store, deviceCa: () => deviceCa }), ...(revocations ? { revocations } : {}) });
  try {
    await test({ store, edge, ca });
  } finally {
    edge.closeAll();
  }
}

/**
 * An associated device holding a certificate of `ca` that expired `expiredSecondsAgo` ago, recorded
 * as issued to it. The CA's own issuing paths refuse a lifetime in the past, so the certificate
 * is signed here with the CA's key, with the device profile's names.
 */
async function deviceWithExpiredCertificate(context: Context, edgeId: string, expiredSecondsAgo: number): Promise<{ environmentId: number; keys: KeyPair; certificate: X509Certificate; serial: string }> {
  const { store, ca } = context;
  const keys = generateKeyPairSync("ecdsa-p256");
  const environment = await store.environments.create({ name: edgeId, type: "edge-agent", edgeId, userTrusted: true, identity: { kind: "certificate", value: spkiSha256(keys.publicKey) } });
  const now = Date.now();
  const notAfter = new Date(now - expiredSecondsAgo * 1000);
  const notBefore = new Date(notAfter.getTime() - 3600_000);
  const der = signCertificate({
    subject: encodeName({ commonName: edgeId }),
    issuer: ca.certificate.subjectDer,
    publicKey: keys.publicKey,
    signingKey: createPrivateKey(readFileSync(caPaths(ca.dir).key)),
    notBefore,
    notAfter,
    extensions: profileExtensions("client", { subjectKey: keys.publicKey, issuerKeyId: keyIdentifier(ca.certificate.publicKey), subjectAltNames: [{ type: "uri", value: deviceUri("pier.local", edgeId) }] }),
  });
  const certificate = new X509Certificate(der);
  const serial = certificate.serialNumber.toLowerCase();
  await store.certificates.insert({
    serial,
    environmentId: environment.id,
    edgeId,
    subject: `CN=${edgeId}`,
    issuer: ca.certificate.subjectText,
    caSpkiSha256: spkiSha256(ca.certificate.publicKey),
    spkiSha256: spkiSha256(keys.publicKey),
    notBefore,
    notAfter,
    issuedAt: notBefore,
    reason: "enrollment",
    revokedAt: null,
    revocationReason: null,
    certificatePem: certificateToPem(der),
  });
  return { environmentId: environment.id, keys, certificate, serial };
}

const hello = (edgeId: string, csr?: string): Hello => ({
  type: "hello",
  protocol: 1,
  environmentId: 0,
  agent: { edgeId, agentVersion: "1.0.0", platform: "docker", hostname: "pi", os: "linux", arch: "arm64" },
  ...(csr === undefined ? {} : { csr }),
});

const csrOf = (keys: KeyPair) => csrToPem(createCsr({ privateKey: keys.privateKey, subject: { commonName: "any" } }));

/** One end of a session as the edge routes register it. */
function session(sourceAddress = "192.0.2.1") {
  const frames: ServerMessage[] = [];
  return { frames, sourceAddress, push: (message: ServerMessage) => frames.push(message), close: () => undefined, healthy: () => true };
}

const expired = (certificate: X509Certificate) => ({ sourceAddress: "192.0.2.1", peerCertificate: certificate, peerCertificateError: "CERT_HAS_EXPIRED" });

describe("a device back with an expired certificate of the built-in CA", () => {
  it("returns to the waiting room as 'expired, same key as <serial>' with its new CSR; association re-issues for that CSR's key", () =>
    withReenrollment(async (context) => {
      const { store, edge } = context;
      const device = await deviceWithExpiredCertificate(context, "away-device", 3 * 86_400);
      // Precondition: associated, no re-enrollment on record.
      expect(await store.environments.get(device.environmentId)).toMatchObject({ userTrusted: true, reenrollment: null });
      const next = generateKeyPairSync("ecdsa-p256");
      const { welcome } = await edge.hello(hello("away-device", csrOf(next)), expired(device.certificate));
      expect(welcome).toMatchObject({ environmentId: device.environmentId, status: "waiting" });
      expect(welcome.certificate).toBeUndefined();
      const waiting = await store.environments.get(device.environmentId);
      expect(waiting).toMatchObject({ userTrusted: false, enrollmentKeySha256: spkiSha256(next.publicKey), reenrollment: { previousSerial: device.serial, sameKey: true } });
      expect((await store.environments.list({ untrusted: true })).map((environment) => environment.id)).toContain(device.environmentId);
      const audit = await store.audit.list({ environmentId: device.environmentId });
      expect(audit.find((event) => event.kind === "reenrollment_requested")?.detail).toMatchObject({ previousSerial: device.serial, sameKey: true });

      // The administrator associates it (what POST /api/endpoints/{id}/edge/trust does): the open session gets the certificate.
      const open = session();
      edge.attachSession(device.environmentId, open);
      await store.environments.update(device.environmentId, { userTrusted: true });
      await edge.notifyChanged(device.environmentId);
      const frame = open.frames.find((message) => message.type === "certificate");
      expect(frame?.type).toBe("certificate");
      const issued = new X509Certificate(frame?.type === "certificate" ? frame.grant.certificate : "");
      expect(spkiSha256(issued.publicKey)).toBe(spkiSha256(next.publicKey));
      expect(issued.subject).toBe("CN=away-device");
      const rows = await store.certificates.listByEnvironment(device.environmentId);
      expect(rows[0]).toMatchObject({ reason: "reissue", spkiSha256: spkiSha256(next.publicKey) });
      expect(await store.environments.get(device.environmentId)).toMatchObject({ userTrusted: true, reenrollment: null, enrollmentCsr: null });
    }));

  it("is re-issued at once when it expired within AutoReissueWithinSeconds, and waits when it expired before", () =>
    withReenrollment(async (context) => {
      const { store, edge } = context;
      // The setting's bounds: 0 (off) to 397 days, whole seconds.
      for (const invalid of [-1, 1.5, 397 * 86_400 + 1]) await expect(store.settings.update({ autoReissueWithinSeconds: invalid })).rejects.toMatchObject({ code: "bad_request", field: "autoReissueWithinSeconds" });
      await store.settings.update({ autoReissueWithinSeconds: 3600 });
      const recent = await deviceWithExpiredCertificate(context, "recent-device", 600);
      const next = generateKeyPairSync("ecdsa-p256");
      const outcome = await edge.hello(hello("recent-device", csrOf(next)), expired(recent.certificate));
      expect(outcome.welcome.status).toBe("associated");
      expect(outcome.deliverOnly).toBe(true);
      const issued = new X509Certificate(outcome.welcome.certificate?.certificate ?? "");
      expect(spkiSha256(issued.publicKey)).toBe(spkiSha256(next.publicKey));
      expect(issued.validToDate.getTime()).toBeGreaterThan(Date.now());
      expect((await store.certificates.listByEnvironment(recent.environmentId))[0]?.reason).toBe("reissue");
      expect((await store.audit.list({ environmentId: recent.environmentId })).find((event) => event.kind === "certificate_reissued")?.detail).toMatchObject({ previousSerial: recent.serial, autoReissueWithinSeconds: 3600 });

      const old = await deviceWithExpiredCertificate(context, "old-device", 7200);
      const waited = await edge.hello(hello("old-device", csrOf(generateKeyPairSync("ecdsa-p256"))), expired(old.certificate));
      expect(waited.welcome.status).toBe("waiting");
      expect(waited.welcome.certificate).toBeUndefined();
      expect((await store.certificates.listByEnvironment(old.environmentId)).length).toBe(1);
    }));

  it("is refused when its certificate was revoked, its environment removed, or its hello carries no CSR", () =>
    withReenrollment(async (context) => {
      const { store, edge } = context;
      const revoked = await deviceWithExpiredCertificate(context, "revoked-device", 60);
      await store.certificates.revoke([revoked.serial], { at: new Date(), reason: "keyCompromise" });
      await expect(edge.hello(hello("revoked-device", csrOf(revoked.keys)), expired(revoked.certificate))).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("revoked") as unknown });
      expect(await store.environments.get(revoked.environmentId)).toMatchObject({ userTrusted: true, reenrollment: null });

      const removed = await deviceWithExpiredCertificate(context, "removed-device", 60);
      await store.environments.delete(removed.environmentId);
      await expect(edge.hello(hello("removed-device", csrOf(removed.keys)), expired(removed.certificate))).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("removed") as unknown });
      expect(await store.environments.getByEdgeId("removed-device")).toBeNull();

      const silent = await deviceWithExpiredCertificate(context, "no-csr-device", 60);
      await expect(edge.hello(hello("no-csr-device"), expired(silent.certificate))).rejects.toMatchObject({ code: "bad_request", field: "csr" });
    }));

  it("is refused when an operator CRL lists its certificate (the in-memory registry only, not the store), and so is an unexpired one's hello", async () => {
    // What server.ts wires: one RevocationRegistry, its operator-crl source fed by --mtlscrl/--sslcrl/the upload.
    const registry = new RevocationRegistry();
    await withReenrollment(async (context) => {
      const { store, edge } = context;
      const listed = await deviceWithExpiredCertificate(context, "crl-listed-device", 60);
      // Precondition: the store does not know of the revocation, so only the registry can refuse it.
      expect((await store.certificates.get(listed.serial))?.revokedAt).toBeNull();
      registry.setSource("operator-crl", [{ issuer: listed.certificate.issuer, serial: listed.serial }]);
      await expect(edge.hello(hello("crl-listed-device", csrOf(generateKeyPairSync("ecdsa-p256"))), expired(listed.certificate))).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("revoked") as unknown });
      expect(await store.environments.get(listed.environmentId)).toMatchObject({ userTrusted: true, reenrollment: null });

      // An unexpired certificate (the handshake's own check may predate the revocation).
      const keys = generateKeyPairSync("ecdsa-p256");
      const issued = await context.ca.issueForKey(keys.publicKey, { profile: "client", commonName: "crl-fresh-device" });
      const fresh = new X509Certificate(issued.certificatePem);
      const presented = { sourceAddress: "192.0.2.1", peerCertificate: fresh };
      // Precondition: before the CRL lists it, its hello is answered.
      expect((await edge.hello(hello("crl-fresh-device"), presented)).welcome.type).toBe("welcome");
      registry.setSource("operator-crl", [{ issuer: fresh.issuer, serial: fresh.serialNumber }]);
      await expect(edge.hello(hello("crl-fresh-device"), presented)).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("is revoked") as unknown });
    }, registry);
  });
});
