import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { certificateSpkiSha256 } from "./certificate-spki.ts";
import { spkiSha256 } from "./keys.ts";

const dir = mkdtempSync(join(tmpdir(), "pier-spki-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate made by the openssl CLI for a key made by `keyArgs` (then `convert`ed). */
function opensslCertificate(name: string, keyArgs: string[], convert?: string[]): X509Certificate {
  const key = join(dir, `${name}.key`);
  execFileSync("openssl", [...keyArgs, "-out", key], { stdio: "pipe" });
  if (convert) execFileSync("openssl", [...convert, "-in", key, "-out", key], { stdio: "pipe" });
  const cert = join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-new", "-x509", "-key", key, "-subj", `/CN=${name}`, "-days", "1", "-out", cert], { stdio: "pipe" });
  return new X509Certificate(readFileSync(cert));
}

const genpkey = (...options: string[]) => ["genpkey", ...options];

const verbatim = {
  "P-256": opensslCertificate("p256", genpkey("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")),
  "P-384": opensslCertificate("p384", genpkey("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")),
  "P-521": opensslCertificate("p521", genpkey("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521")),
  "RSA 2048": opensslCertificate("rsa", genpkey("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")),
  Ed25519: opensslCertificate("ed25519", genpkey("-algorithm", "ED25519")),
  Ed448: opensslCertificate("ed448", genpkey("-algorithm", "ED448")),
};
const exported = {
  "P-256, compressed point": opensslCertificate("p256c", genpkey("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"), ["ec", "-conv_form", "compressed"]),
  secp256k1: opensslCertificate("k256", genpkey("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1")),
};

/** Stand-in for a certificate whose key must not be exported: `publicKey` throws. */
function withoutExport(certificate: X509Certificate): X509Certificate {
  return {
    raw: certificate.raw,
    get publicKey(): never {
      throw new Error("exported");
    },
  } as unknown as X509Certificate;
}

describe("certificateSpkiSha256", () => {
  it.each(Object.entries({ ...verbatim, ...exported }))("is spkiSha256 of the exported key (%s)", (_name, certificate) => {
    expect(certificateSpkiSha256(certificate)).toBe(spkiSha256(certificate.publicKey));
    expect(certificateSpkiSha256(certificate)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(Object.entries(verbatim))("hashes the certificate's own bytes, without exporting the key (%s)", (_name, certificate) => {
    expect(certificateSpkiSha256(withoutExport(certificate))).toBe(spkiSha256(certificate.publicKey));
  });

  it.each(Object.entries(exported))("exports a key whose encoding export might change (%s)", (_name, certificate) => {
    expect(() => certificateSpkiSha256(withoutExport(certificate))).toThrow("exported");
  });
});
