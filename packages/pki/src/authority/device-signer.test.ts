import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateAuthority, caPaths } from "./certificate-authority.ts";
import { generateKeyPairSync, spkiSha256 } from "../keys.ts";
import { parseCertificate } from "../certificate.ts";
import { parseCrl } from "../crl.ts";
import { parsePem } from "../pem.ts";

let work: string;
let dir: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "pier-device-signer-"));
  dir = join(work, "ca");
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Runs openssl in the work directory; returns its status and combined output. */
function openssl(args: string[]): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { cwd: work, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Every file under the CA directory with its size and modification time: what "writes nothing" compares. */
function snapshot(): string[] {
  const entries: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const stat = statSync(join(dir, name));
    entries.push(`${name} ${stat.size} ${stat.mtimeMs}`);
  }
  return entries.sort();
}

const deviceRequest = (edgeId: string) => ({
  profile: "client" as const,
  commonName: edgeId,
  subjectAltNames: [{ type: "uri" as const, value: `spiffe://pier.local/edge/${edgeId}` }],
  crlDistributionPoints: ["https://pier.example.com:9443/api/pki/crl"],
  lifetimeSeconds: 3_600,
});

describe("device certificate profile", () => {
  it("issues CN + URI SAN spiffe://pier.local/edge/<id> + CRL distribution point, as openssl x509 -text shows them", async () => {
    const ca = await CertificateAuthority.create(dir);
    const { publicKey } = generateKeyPairSync("ecdsa-p256");
    const leaf = (await ca.deviceSigner()).sign(publicKey, deviceRequest("edge-17"));
    writeFileSync(join(work, "leaf.crt"), leaf.certificatePem);
    const text = openssl(["x509", "-in", "leaf.crt", "-noout", "-text"]);
    expect(text.status).toBe(0);
    expect(text.output).toMatch(/Subject: CN\s?=\s?edge-17/);
    expect(text.output).toMatch(/X509v3 Subject Alternative Name:\s*\n\s*URI:spiffe:\/\/pier\.local\/edge\/edge-17/);
    expect(text.output).toMatch(/X509v3 CRL Distribution Points:\s*\n(\s*\n)?\s*Full Name:\s*\n\s*URI:https:\/\/pier\.example\.com:9443\/api\/pki\/crl/);
    expect(text.output).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication/);
    // The CRL DP is not critical (RFC 5280 §4.2.1.13 SHOULD).
    expect(text.output).not.toMatch(/CRL Distribution Points: critical/);
    writeFileSync(join(work, "ca.crt"), ca.certificatePem);
    expect(openssl(["verify", "-purpose", "sslclient", "-CAfile", "ca.crt", "leaf.crt"]).output).toContain("leaf.crt: OK");
    // Pier's own parser reads the extension back.
    expect(parseCertificate(leaf.der).extensions.crlDistributionPoints).toEqual(["https://pier.example.com:9443/api/pki/crl"]);
  });

  it("refuses a CRL distribution point that is not an absolute ASCII URL, or longer than 2048 characters", async () => {
    const ca = await CertificateAuthority.create(dir);
    const signer = await ca.deviceSigner();
    const { publicKey } = generateKeyPairSync("ecdsa-p256");
    expect(signer.sign(publicKey, { ...deviceRequest("a"), crlDistributionPoints: [`https://x.example/${"a".repeat(2000)}`] }).der.length).toBeGreaterThan(2000);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), crlDistributionPoints: [`https://x.example/${"a".repeat(2048)}`] })).toThrow(/not a usable CRL distribution point.*at most 2048 characters/);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), crlDistributionPoints: ["/api/pki/crl"] })).toThrow(/absolute http\(s\) URL/);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), crlDistributionPoints: ["https://pïer.example/crl"] })).toThrow(/printable ASCII/);
  });
});

describe("CertificateAuthority.deviceSigner", () => {
  it("signs in memory: the CA directory is unchanged after 50 certificates, each chaining to the CA with the facts it returns", async () => {
    const ca = await CertificateAuthority.create(dir);
    const signer = await ca.deviceSigner();
    const before = snapshot();
    expect(before.length).toBeGreaterThan(2);
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { publicKey } = generateKeyPairSync("ecdsa-p256");
      const leaf = signer.sign(publicKey, deviceRequest(`edge-${i}`));
      const x509 = new X509Certificate(leaf.certificatePem);
      expect(x509.verify(ca.certificate.publicKey)).toBe(true);
      expect(leaf.serialNumber).toBe(x509.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""));
      expect(leaf.der.equals(x509.raw)).toBe(true);
      expect(leaf.spkiSha256).toBe(spkiSha256(publicKey));
      expect(leaf.notBefore.getTime()).toBe(new Date(x509.validFrom).getTime());
      expect(leaf.notAfter.getTime()).toBe(new Date(x509.validTo).getTime());
      // 1 h asked, plus the 5 minutes notBefore is back-dated for clock skew.
      expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe((3_600 + 300) * 1000);
      serials.add(leaf.serialNumber);
    }
    expect(serials.size).toBe(50);
    expect(snapshot()).toEqual(before);
    expect(ca.list()).toEqual([]);
  });

  it("refuses lifetimes under 60 s, over 397 days, past the CA's own expiry, or given both in days and seconds", async () => {
    const ca = await CertificateAuthority.create(dir, { days: 2 });
    const signer = await ca.deviceSigner();
    const { publicKey } = generateKeyPairSync("ecdsa-p256");
    expect(signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 60 }).notAfter).toBeInstanceOf(Date);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 59 })).toThrow(/from 60 \(60s\) to 34300800 \(397d\), got 59/);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 397 * 86_400 + 1 })).toThrow(/to 34300800 \(397d\)/);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 3 * 86_400 })).toThrow(/A lifetime of 3d would outlive the CA, which expires .*; choose a shorter lifetime or rotate the CA/);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), days: 1 })).toThrow(/in days or in seconds, not both/);
    // Marked for the end-to-end tests, down to 10 s and no further.
    const short = signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 10, testShortLifetime: true });
    expect(short.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(10_000);
    expect(() => signer.sign(publicKey, { ...deviceRequest("a"), lifetimeSeconds: 9, testShortLifetime: true })).toThrow(/from 10 \(10s\) to 34300800 \(397d\), got 9/);
  });
});

describe("CertificateAuthority.signCrlFor", () => {
  it("signs the caller's revoked list with its CRL number, which openssl accepts and marks revoked, without touching the CA directory", async () => {
    const ca = await CertificateAuthority.create(dir);
    const signer = await ca.deviceSigner();
    const revoked = signer.sign(generateKeyPairSync("ecdsa-p256").publicKey, deviceRequest("stolen"));
    const fine = signer.sign(generateKeyPairSync("ecdsa-p256").publicKey, deviceRequest("fine"));
    const before = snapshot();
    const crl = ca.signCrlFor([{ serialNumber: revoked.serialNumber, revokedAt: new Date(), reason: "keyCompromise" }], { crlNumber: 41, nextUpdateDays: 7 });
    expect(snapshot()).toEqual(before);
    expect(parseCrl(crl.der).crlNumber).toBe(41);
    expect(crl.nextUpdate.getTime() - crl.thisUpdate.getTime()).toBe(7 * 86_400_000);
    writeFileSync(join(work, "ca.crt"), ca.certificatePem);
    writeFileSync(join(work, "crl.pem"), crl.pem);
    writeFileSync(join(work, "stolen.crt"), revoked.certificatePem);
    writeFileSync(join(work, "fine.crt"), fine.certificatePem);
    const stolen = openssl(["verify", "-crl_check", "-CAfile", "ca.crt", "-CRLfile", "crl.pem", "stolen.crt"]);
    expect(stolen.status).not.toBe(0);
    expect(stolen.output).toContain("certificate revoked");
    expect(openssl(["verify", "-crl_check", "-CAfile", "ca.crt", "-CRLfile", "crl.pem", "fine.crt"]).output).toContain("fine.crt: OK");
    expect(() => ca.signCrlFor([], { crlNumber: -1 })).toThrow(/CRL number/);
  });
});

describe("revoking a device certificate's serial (not in the CA's index)", () => {
  it("is refused by a plain CA, accepted once the CA has a device signer, recorded in ca-state.json and listed by generateCrl", async () => {
    const ca = await CertificateAuthority.create(dir);
    const stranger = "7f".repeat(16);
    await expect(ca.revoke(stranger)).rejects.toMatchObject({ code: "certificate_not_found" });
    const leaf = (await ca.deviceSigner()).sign(generateKeyPairSync("ecdsa-p256").publicKey, deviceRequest("edge-9"));
    const recorded = await ca.revoke(leaf.serialNumber.toUpperCase(), "keyCompromise");
    expect(recorded).toMatchObject({ serialNumber: leaf.serialNumber, external: true, revoked: { reason: "keyCompromise" } });
    expect(readFileSync(caPaths(dir).state, "utf8")).toContain(leaf.serialNumber);
    expect(statSync(caPaths(dir).state).mode & 0o777).toBe(0o600);
    expect(CertificateAuthority.open(dir).externalRevocations().map((r) => r.serialNumber)).toEqual([leaf.serialNumber]);
    await expect(ca.revoke(leaf.serialNumber)).rejects.toMatchObject({ code: "already_revoked" });
    await expect(ca.revokeExternal("01".repeat(21))).rejects.toThrow(/at most 20 octets/);
    const crl = parseCrl(parsePem((await ca.generateCrl()).pem)[0]!.der);
    expect(crl.revoked).toEqual([expect.objectContaining({ serialNumber: leaf.serialNumber, reason: "keyCompromise" })]);
  });
});
