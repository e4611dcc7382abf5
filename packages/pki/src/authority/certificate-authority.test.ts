import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateAuthority, caPaths } from "./certificate-authority.ts";
import { parseSanList } from "../names.ts";
import { createCsr } from "../csr.ts";
import { generateKeyPairSync } from "../keys.ts";
import { parseCrl } from "../crl.ts";
import { parsePem } from "../pem.ts";
import { parseCertificate } from "../certificate.ts";
import { Oid } from "../asn1/oids.ts";

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), "pier-ca-unit-")), "ca");
});
afterEach(() => rmSync(join(dir, ".."), { recursive: true, force: true }));

const certOf = (pem: string) => parseCertificate(parsePem(pem)[0]!.der);

describe("CertificateAuthority", () => {
  it("creates a CA with RFC 5280 CA extensions, a 0600 key and refuses to overwrite it", async () => {
    const ca = await CertificateAuthority.create(dir, { commonName: "Acme Edge CA", days: 30 });
    const info = ca.certificate;
    expect(info.subjectText).toBe("CN=Acme Edge CA");
    expect(info.extensions.basicConstraints).toEqual({ ca: true, critical: true });
    expect(info.extensions.keyUsage).toEqual(expect.arrayContaining(["keyCertSign", "cRLSign"]));
    expect(info.key.label).toBe("ECDSA P-256");
    expect(info.x509.verify(info.publicKey)).toBe(true);
    expect(statSync(caPaths(dir).key).mode & 0o777).toBe(0o600);
    await expect(CertificateAuthority.create(dir)).rejects.toMatchObject({ code: "ca_exists" });
  });

  it("keeps its state and records 0600 and its directories 0700, from creation through issuing, revoking and CRLs", async () => {
    const mode = (path: string) => statSync(path).mode & 0o777;
    const ca = await CertificateAuthority.create(dir);
    const paths = caPaths(dir);
    expect(mode(paths.state)).toBe(0o600);
    expect([mode(dir), mode(paths.issued)]).toEqual([0o700, 0o700]);
    const issued = await ca.issueWithNewKey({ profile: "client", commonName: "mode" });
    const record = join(paths.issued, `${issued.record.serialNumber}.crt`);
    expect(mode(record)).toBe(0o600);
    await ca.revoke(issued.record.serialNumber);
    await ca.generateCrl();
    // Each of these rewrote ca-state.json.
    expect(mode(paths.state)).toBe(0o600);
    expect(mode(paths.key)).toBe(0o600);
  });

  it("issues server and client leaves with the right EKU, SKI/AKI and random 128-bit serials", async () => {
    const ca = await CertificateAuthority.create(dir);
    const server = await ca.issueWithNewKey({ profile: "server", subjectAltNames: parseSanList("DNS:pier.example.com,IP:127.0.0.1") });
    const client = await ca.issueWithNewKey({ profile: "client", commonName: "edge-1", keyType: "ed25519" });
    const s = certOf(server.certificatePem);
    const c = certOf(client.certificatePem);
    expect(s.subjectText).toBe("CN=pier.example.com");
    expect(s.extensions.extKeyUsage).toEqual([Oid.serverAuth]);
    expect(c.extensions.extKeyUsage).toEqual([Oid.clientAuth]);
    expect(c.key.label).toBe("Ed25519");
    expect(s.extensions.authorityKeyId).toBe(ca.certificate.extensions.subjectKeyId);
    expect(s.serialNumber).not.toBe(c.serialNumber);
    expect(s.serialNumber.length).toBeGreaterThanOrEqual(30);
    expect(new X509Certificate(server.certificatePem).checkIssued(ca.certificate.x509)).toBe(true);
    expect(createPrivateKey(client.privateKeyPem).asymmetricKeyType).toBe("ed25519");
    expect(ca.list().map((e) => [e.profile, e.status])).toEqual([["server", "valid"], ["client", "valid"]]);
    expect(ca.issuedFileCount()).toBe(2);
  });

  it("refuses a server certificate without SAN and a lifetime beyond the CA's", async () => {
    const ca = await CertificateAuthority.create(dir, { days: 10 });
    await expect(ca.issueWithNewKey({ profile: "server", commonName: "x" })).rejects.toThrow(/needs at least one subjectAltName/);
    await expect(ca.issueWithNewKey({ profile: "client", commonName: "x", days: 11 })).rejects.toThrow(/would outlive the CA.*--days 9 or less/);
    await expect(ca.issueWithNewKey({ profile: "client" })).rejects.toMatchObject({ code: "invalid_name" });
  });

  it("protects the CA key with a passphrase when asked", async () => {
    await CertificateAuthority.create(dir, { passphrase: "correct horse" });
    expect(readFileSync(caPaths(dir).key, "utf8")).toContain("ENCRYPTED PRIVATE KEY");
    await expect(CertificateAuthority.open(dir).issueWithNewKey({ profile: "client", commonName: "a" })).rejects.toMatchObject({ code: "key_encrypted" });
    await expect(CertificateAuthority.open(dir, { passphrase: "wrong" }).issueWithNewKey({ profile: "client", commonName: "a" })).rejects.toMatchObject({ code: "bad_passphrase" });
    const issued = await CertificateAuthority.open(dir, { passphrase: "correct horse" }).issueWithNewKey({ profile: "client", commonName: "a" });
    expect(issued.record.subject).toBe("CN=a");
  });

  it("signs a CSR with its key only: identity from the request, requested names reported", async () => {
    const ca = await CertificateAuthority.create(dir);
    const { privateKey, publicKey } = generateKeyPairSync("ecdsa-p384");
    const csr = createCsr({ privateKey, subject: { commonName: "requested-name" }, subjectAltNames: parseSanList("DNS:evil.example.com") });
    const signed = await ca.signCsr(csr, { profile: "server", subjectAltNames: parseSanList("DNS:edge-7.example.com") });
    const info = certOf(signed.certificatePem);
    expect(info.extensions.subjectAltNames).toEqual([{ type: "dns", value: "edge-7.example.com" }]);
    expect(info.subjectText).toBe("CN=requested-name");
    expect(info.spkiSha256).toBe(parseCertificate(parsePem(signed.certificatePem)[0]!.der).spkiSha256);
    expect(info.publicKey.export({ format: "der", type: "spki" })).toEqual(publicKey.export({ format: "der", type: "spki" }));
    expect(signed.ignored.join("\n")).toMatch(/DNS:evil.example.com/);
  });

  it("rejects a CSR whose signature does not verify", async () => {
    const ca = await CertificateAuthority.create(dir);
    const csr = Buffer.from(createCsr({ privateKey: generateKeyPairSync().privateKey, subject: { commonName: "device" } }));
    csr[csr.length - 5] = (csr[csr.length - 5]! + 1) & 0xff; // flip a bit inside the signature
    await expect(ca.signCsr(csr, { profile: "client" })).rejects.toMatchObject({ code: "csr_signature_invalid" });
  });

  it("revokes and lists revocations in numbered CRLs", async () => {
    const ca = await CertificateAuthority.create(dir);
    const a = await ca.issueWithNewKey({ profile: "client", commonName: "a" });
    await ca.issueWithNewKey({ profile: "client", commonName: "b" });
    await ca.revoke(a.record.serialNumber, "keyCompromise");
    await expect(ca.revoke(a.record.serialNumber)).rejects.toMatchObject({ code: "already_revoked" });
    await expect(ca.revoke("abcdef")).rejects.toMatchObject({ code: "certificate_not_found" });
    const first = parseCrl(parsePem((await ca.generateCrl()).pem)[0]!.der);
    const second = parseCrl(parsePem((await ca.generateCrl({ days: 1 })).pem)[0]!.der);
    expect(first.crlNumber).toBe(1);
    expect(second.crlNumber).toBe(2);
    expect(first.revoked).toEqual([expect.objectContaining({ serialNumber: a.record.serialNumber, reason: "keyCompromise" })]);
    expect(first.verifySignature(ca.certificate.publicKey)).toBe(true);
    expect(ca.list().map((e) => e.status)).toEqual(["revoked", "valid"]);
  });

  it("keeps every record when many certificates are issued at once", async () => {
    const ca = await CertificateAuthority.create(dir);
    await Promise.all(Array.from({ length: 25 }, (_, i) => ca.issueWithNewKey({ profile: "client", commonName: `d${i}` })));
    expect(new Set(ca.list().map((e) => e.subject)).size).toBe(25);
    expect(ca.issuedFileCount()).toBe(25);
  });

  it("says how to create a CA when the directory has none", () => {
    expect(() => CertificateAuthority.open(join(dir, "nothing"))).toThrow(/pier ca init --dir/);
  });
});
