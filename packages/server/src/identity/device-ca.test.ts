import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { CertificateAuthority, generateKeyPair, spkiSha256 } from "@pier/pki";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { DeviceCa } from "./device-ca.ts";

async function withDeviceCa(test: (context: { deviceCa: DeviceCa; ca: CertificateAuthority; store: SqliteStore; file: (name: string) => string }) => Promise<void>, lifetimeSeconds = 90): Promise<void> {
  await using dir = tempDir("device-ca");
  await using store = await SqliteStore.open(dir.file("pier.db"));
  const ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Pier built-in CA (test)" });
  const deviceCa = await DeviceCa.open({ store, authorities: { issuing: ca, trusted: [ca] }, lifetimeSeconds, crlUrl: () => Promise.resolve("https://pier.example:9443/api/pki/crl") });
  await test({ deviceCa, ca, store, file: (name) => dir.file(name) });
}

describe("DeviceCa", () => {
  it("issues what docs/identity.md says, as openssl reads it: CN and spiffe URI SAN from the record, clientAuth, CA:FALSE, CRL DP, the lifetime", () =>
    withDeviceCa(async ({ deviceCa, ca, store, file }) => {
      const { publicKey } = await generateKeyPair("ecdsa-p256");
      const before = Date.now();
      const { record, grant } = await deviceCa.issue({ environmentId: 7, edgeId: "edge-7", publicKey, reason: "enrollment", sourceAddress: "192.0.2.7" });
      writeFileSync(file("device.crt"), grant.certificate);
      writeFileSync(file("chain.pem"), grant.chain);
      const text = execFileSync("openssl", ["x509", "-in", file("device.crt"), "-noout", "-text"], { encoding: "utf8" });
      expect(text).toMatch(/Subject: CN ?= ?edge-7\n/);
      expect(text).toContain("URI:spiffe://pier.local/edge/edge-7");
      expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\n/);
      expect(text).toMatch(/X509v3 Basic Constraints:.*\n\s*CA:FALSE/);
      expect(text).toMatch(/X509v3 Key Usage:.*\n\s*Digital Signature\n/);
      expect(text).toMatch(/X509v3 CRL Distribution Points:\s*\n(\s*\n)?\s*Full Name:\s*\n\s*URI:https:\/\/pier\.example:9443\/api\/pki\/crl\?ca=[0-9a-f]{16}\n/);
      expect(text).toContain(`/api/pki/crl?ca=${ca.certificate.spkiSha256.slice(0, 16)}`);
      expect(text).toContain("X509v3 Subject Key Identifier");
      expect(text).toContain("X509v3 Authority Key Identifier");
      expect(execFileSync("openssl", ["verify", "-CAfile", file("chain.pem"), "-purpose", "sslclient", file("device.crt")], { encoding: "utf8" })).toContain("device.crt: OK");
      // 90 s from now, back-dated 5 minutes (clock skew), at second granularity.
      const certificate = new X509Certificate(grant.certificate);
      expect(certificate.validToDate.getTime() - before).toBeGreaterThan(88_000);
      expect(certificate.validToDate.getTime() - before).toBeLessThan(92_000);
      expect(before - certificate.validFromDate.getTime()).toBeGreaterThan(299_000);
      // Recorded in the store with the key's fingerprint, audited; the grant carries the CA.
      expect(record.serial).toBe(certificate.serialNumber.toLowerCase());
      expect(await store.certificates.get(record.serial)).toMatchObject({ environmentId: 7, edgeId: "edge-7", spkiSha256: spkiSha256(publicKey), reason: "enrollment", revokedAt: null, certificatePem: grant.certificate });
      expect(grant.chain).toBe(ca.certificatePem);
      expect(grant.trustBundle).toBe(ca.certificatePem);
      const [audit] = await store.audit.list({ environmentId: 7 });
      expect(audit).toMatchObject({ kind: "certificate_issued", edgeId: "edge-7", sourceAddress: "192.0.2.7", detail: { serial: record.serial, reason: "enrollment" } });
      // Nothing written to the CA's own index (unindexed signing).
      expect(ca.list()).toEqual([]);
      expect(deviceCa.authorityOf(certificate)).toBe(ca);
    }));

  it("issues a lifetime under 60 s only as the CLI allows it for the end-to-end tests (10 s and more)", () =>
    withDeviceCa(async ({ deviceCa }) => {
      const { publicKey } = await generateKeyPair("ecdsa-p256");
      const before = Date.now();
      const { grant } = await deviceCa.issue({ environmentId: 3, edgeId: "edge-3", publicKey, reason: "enrollment" });
      const lifetime = new X509Certificate(grant.certificate).validToDate.getTime() - before;
      expect(lifetime).toBeGreaterThan(18_000);
      expect(lifetime).toBeLessThan(22_000);
    }, 20));

  it("names the device in the setting's trust domain, never after what a caller's CSR said", () =>
    withDeviceCa(async ({ deviceCa, store }) => {
      await store.settings.update({ trustDomain: "fleet.example" });
      const { publicKey } = await generateKeyPair("ecdsa-p256");
      const { grant } = await deviceCa.issue({ environmentId: 1, edgeId: "edge-1", publicKey, reason: "enrollment" });
      expect(new X509Certificate(grant.certificate).subjectAltName).toBe("URI:spiffe://fleet.example/edge/edge-1");
      await expect(store.settings.update({ trustDomain: "Not A Domain/" })).rejects.toMatchObject({ code: "bad_request", field: "trustDomain" });
    }));

  it("switches the issuing and trusted CAs (a rotation) and tells its listeners; the issuing CA must be trusted", () =>
    withDeviceCa(async ({ deviceCa, ca, file }) => {
      const next = await CertificateAuthority.create(file("ca-next"), { commonName: "Pier built-in CA (next)" });
      let changes = 0;
      deviceCa.onChange(() => (changes += 1));
      await expect(deviceCa.setAuthorities({ issuing: next, trusted: [ca] })).rejects.toMatchObject({ code: "config_invalid" });
      expect(changes).toBe(0);
      await deviceCa.setAuthorities({ issuing: next, trusted: [next, ca] });
      expect(changes).toBe(1);
      expect(deviceCa.clientTrustBundle()).toBe(next.certificatePem + ca.certificatePem);
      const { publicKey } = await generateKeyPair("ecdsa-p256");
      const { grant, record } = await deviceCa.issue({ environmentId: 2, edgeId: "edge-2", publicKey, reason: "rotation" });
      expect(new X509Certificate(grant.certificate).issuer).toBe("CN=Pier built-in CA (next)");
      expect(grant.chain).toBe(next.certificatePem);
      expect(record.caSpkiSha256).toBe(spkiSha256(next.certificate.publicKey));
    }));
});
