import { describe, expect, it } from "vitest";
import { existsSync, writeFileSync } from "node:fs";
import { CertificateAuthority, generateKeyPairSync } from "@pier/pki";
import { pier, run, tempDir } from "../src/index.ts";

describe("pier ca revoke on a CA that signs device certificates (a server's DATA/ca)", () => {
  it("revokes a device certificate's serial, which the CA never indexed, and the next CRL makes openssl refuse it", async () => {
    await using dir = tempDir("device-ca-cli");
    expect(pier(["ca", "init", "--dir", "ca"], { cwd: dir.path }).status).toBe(0);
    // What the server does: sign in memory through a device signer, keep the record elsewhere.
    const ca = CertificateAuthority.open(dir.file("ca"));
    const serialBefore = "5a".repeat(16);
    // Precondition: a plain CLI CA refuses a serial it did not issue.
    const refused = pier(["ca", "revoke", "--dir", "ca", serialBefore], { cwd: dir.path });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/This CA has not issued a certificate with serial 5a5a/);
    const signer = await ca.deviceSigner();
    const device = signer.sign(generateKeyPairSync("ecdsa-p256").publicKey, {
      profile: "client",
      commonName: "edge-42",
      subjectAltNames: [{ type: "uri", value: "spiffe://pier.local/edge/edge-42" }],
      lifetimeSeconds: 3_600,
    });
    writeFileSync(dir.file("device.crt"), device.certificatePem);
    const verify = () => run("openssl", ["verify", "-purpose", "sslclient", "-crl_check", "-CAfile", "ca/ca.crt", "-CRLfile", "crl.pem", "device.crt"], { cwd: dir.path });
    expect(pier(["ca", "crl", "--dir", "ca", "--out", "crl.pem"], { cwd: dir.path }).status).toBe(0);
    expect(verify().stdout).toContain("device.crt: OK");

    const revoked = pier(["ca", "revoke", "--dir", "ca", device.serialNumber.toUpperCase(), "--reason", "keyCompromise"], { cwd: dir.path });
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toContain(`Revoked device certificate serial ${device.serialNumber}, reason keyCompromise`);
    const again = pier(["ca", "revoke", "--dir", "ca", "--serial", device.serialNumber], { cwd: dir.path });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`Certificate ${device.serialNumber} was already revoked on .* \\(keyCompromise\\)`));

    expect(pier(["ca", "crl", "--dir", "ca", "--out", "crl.pem"], { cwd: dir.path }).status).toBe(0);
    const after = verify();
    expect(after.status).not.toBe(0);
    expect(after.output).toContain("certificate revoked");
  });

  it("refuses two serials, or a serial with --cert", async () => {
    await using dir = tempDir("device-ca-cli-usage");
    expect(pier(["ca", "init", "--dir", "ca"], { cwd: dir.path }).status).toBe(0);
    const two = pier(["ca", "revoke", "--dir", "ca", "0a", "0b"], { cwd: dir.path });
    expect(two.status).toBe(2);
    expect(two.stderr).toContain("ca revoke takes one serial, got 2: 0a 0b.");
    const both = pier(["ca", "revoke", "--dir", "ca", "--serial", "0a", "0b"], { cwd: dir.path });
    expect(both.status).toBe(2);
    expect(both.stderr).toContain("Give exactly one of --cert FILE, --serial HEX or the serial itself.");
  });
});

describe("pier server --device-cert-lifetime", () => {
  it("refuses a lifetime under 60s, over 397d or unreadable before starting anything, naming the flag and the accepted forms", async () => {
    await using dir = tempDir("device-cert-lifetime");
    const short = pier(["server", "--data", dir.file("data"), "--device-cert-lifetime", "30s"]);
    expect(short.status).toBe(2);
    expect(short.stderr).toContain('--device-cert-lifetime must be between 60s and 397d (60 to 34300800 seconds), got "30s".');
    expect(pier(["server", "--data", dir.file("data"), "--device-cert-lifetime", "400d"]).stderr).toContain('got "400d"');
    const unreadable = pier(["server", "--data", dir.file("data"), "--device-cert-lifetime", "1y"]);
    expect(unreadable.status).toBe(2);
    expect(unreadable.stderr).toContain('--device-cert-lifetime must be a whole number followed by s, m, h or d (e.g. 90s, 15m, 12h, 30d), got "1y".');
    const fromEnvironment = pier(["server", "--data", dir.file("data")], { env: { PIER_DEVICE_CERT_LIFETIME: "0d" } });
    expect(fromEnvironment.status).toBe(2);
    expect(fromEnvironment.stderr).toContain('PIER_DEVICE_CERT_LIFETIME must be between 60s and 397d');
    // Nothing was started or created.
    expect(existsSync(dir.file("data"))).toBe(false);
  });
});
