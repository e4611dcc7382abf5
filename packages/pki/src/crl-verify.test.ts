import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateAuthority } from "./authority/certificate-authority.ts";
import { crlMaxBytes, verifyCrl } from "./crl-verify.ts";
import { signCrl, crlToPem } from "./crl.ts";
import { generateKeyPairSync } from "./keys.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "pier-crl-verify-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const day = 86_400_000;
const codes = (result: ReturnType<typeof verifyCrl>) => result.problems.map((p) => p.code);

describe("verifyCrl", () => {
  it("accepts a current CRL signed by one of the CAs, in PEM or DER, and returns its entries", async () => {
    const other = await CertificateAuthority.create(join(work, "other"), { commonName: "Other CA" });
    const ca = await CertificateAuthority.create(join(work, "ca"), { commonName: "Edge CA" });
    const crl = ca.signCrlFor([{ serialNumber: "0a0b", revokedAt: new Date(), reason: "keyCompromise" }], { crlNumber: 3 });
    for (const input of [crl.pem, crl.der]) {
      const result = verifyCrl(input, [other.certificatePem, ca.certificatePem]);
      expect(result).toMatchObject({ ok: true, problems: [], crlNumber: 3, issuer: "CN=Edge CA" });
      expect(result.entries).toEqual([expect.objectContaining({ serialNumber: "0a0b", reason: "keyCompromise" })]);
      expect(result.signedBy?.subjectText).toBe("CN=Edge CA");
      expect(result.nextUpdate).toEqual(crl.nextUpdate);
    }
  });

  it("says a certificate, garbage or an oversized file is not a CRL", async () => {
    const ca = await CertificateAuthority.create(join(work, "ca"));
    expect(codes(verifyCrl(ca.certificatePem, [ca.certificatePem]))).toEqual(["not_a_crl"]);
    expect(verifyCrl(ca.certificatePem, [ca.certificatePem]).problems[0]?.problem).toMatch(/holds CERTIFICATE, not a CRL/);
    expect(codes(verifyCrl(Buffer.from("garbage"), [ca.certificatePem]))).toEqual(["not_a_crl"]);
    expect(codes(verifyCrl(ca.certificate.der, [ca.certificatePem]))).toEqual(["not_a_crl"]);
    expect(codes(verifyCrl(Buffer.alloc(crlMaxBytes + 1), [ca.certificatePem]))).toEqual(["crl_too_large"]);
    expect(verifyCrl(ca.certificatePem, [ca.certificatePem]).problems[0]?.fix).toMatch(/pier ca crl --dir CA_DIR/);
  });

  it("refuses a CRL of another CA, and one with the CA's name but another key", async () => {
    const ca = await CertificateAuthority.create(join(work, "ca"), { commonName: "Edge CA" });
    const stranger = await CertificateAuthority.create(join(work, "stranger"), { commonName: "Stranger CA" });
    const foreign = verifyCrl(stranger.signCrlFor([], { crlNumber: 1 }).pem, [ca.certificatePem]);
    expect(codes(foreign)).toEqual(["crl_wrong_issuer"]);
    expect(foreign.problems[0]?.problem).toMatch(/issued by CN=Stranger CA, not by a configured CA \(CN=Edge CA\)/);
    const forged = crlToPem(
      signCrl({ issuer: ca.certificate.subjectDer, issuerKeyId: Buffer.alloc(20), signingKey: generateKeyPairSync("ecdsa-p256").privateKey, crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + day), revoked: [] }),
    );
    const result = verifyCrl(forged, [ca.certificatePem]);
    expect(codes(result)).toEqual(["crl_wrong_issuer"]);
    expect(result.problems[0]?.problem).toMatch(/names CN=Edge CA as its issuer but its signature does not verify/);
    // Precondition: the genuine CRL passes with the same CA list.
    expect(verifyCrl(ca.signCrlFor([], { crlNumber: 1 }).pem, [ca.certificatePem]).ok).toBe(true);
  });

  it("refuses an expired CRL and one not valid yet, judged at `now`", async () => {
    const ca = await CertificateAuthority.create(join(work, "ca"));
    const crl = ca.signCrlFor([], { crlNumber: 1, nextUpdateSeconds: 3_600 });
    expect(verifyCrl(crl.der, [ca.certificatePem], new Date(crl.thisUpdate.getTime() + 1_000)).ok).toBe(true);
    const expired = verifyCrl(crl.der, [ca.certificatePem], new Date(crl.nextUpdate.getTime() + 1_000));
    expect(codes(expired)).toEqual(["crl_expired"]);
    expect(expired.problems[0]?.problem).toContain(`its next update was due ${crl.nextUpdate.toISOString()}`);
    expect(codes(verifyCrl(crl.der, [ca.certificatePem], new Date(crl.thisUpdate.getTime() - 60_000)))).toEqual(["crl_not_yet_valid"]);
  });
});
