import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../store/index.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { deviceAuditTrail } from "./device-audit-trail.ts";

describe("a device's audit trail", () => {
  let dir: TempDir;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = tempDir("device-audit");
    store = await SqliteStore.open(dir.file("pier.db"));
  });
  afterEach(async () => {
    await store.close();
    await dir[Symbol.asyncDispose]();
  });

  it("shows the refused handshakes that presented one of its certificates, which the audit records without a device", async () => {
    const device = await store.environments.create({ name: "d", type: "edge-agent", edgeId: "edge-d", userTrusted: true, clientCertificate: { subject: "CN=edge-client", issuer: "CN=Operator CA", serialNumber: "0f1", fingerprintSha256: "c".repeat(64), notAfter: new Date(Date.now() + 86_400_000) } });
    const now = Date.now();
    await store.certificates.insert({ serial: "1a2b", environmentId: device.id, edgeId: "edge-d", subject: "CN=edge-d", issuer: "CN=Pier CA", caSpkiSha256: "a".repeat(64), spkiSha256: "b".repeat(64), notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000), issuedAt: new Date(now - 1000), reason: "enrollment", revokedAt: null, revocationReason: null, certificatePem: "" });
    await store.audit.append({ kind: "certificate_issued", environmentId: device.id, at: new Date(now - 3000), detail: { serial: "1a2b" } });
    await store.audit.append({ kind: "refused_tls", at: new Date(now - 2000), sourceAddress: "203.0.113.7", detail: { code: "revoked", serial: "1a2b" } });
    await store.audit.append({ kind: "refused_tls", at: new Date(now - 1500), detail: { code: "unknown_ca", serial: "f1" } });
    await store.audit.append({ kind: "refused_tls", at: new Date(now - 1000), detail: { code: "revoked", serial: "99" } });
    // The precondition: the environment's own list does not have them.
    expect((await store.audit.list({ environmentId: device.id })).map((event) => event.kind)).toEqual(["certificate_issued"]);
    const trail = await deviceAuditTrail(store, device.id);
    expect(trail.map((event) => [event.kind, event.detail["serial"]])).toEqual([
      ["refused_tls", "f1"],
      ["refused_tls", "1a2b"],
      ["certificate_issued", "1a2b"],
    ]);
  });
});
