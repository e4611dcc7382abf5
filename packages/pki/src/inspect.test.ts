import { describe, expect, it } from "vitest";
import { encodeName } from "./names.ts";
import { generateKeyPairSync } from "./keys.ts";
import { signCertificate } from "./certificate.ts";
import { toPem } from "./pem.ts";
import { inspectPkiFile } from "./inspect.ts";

// Found by fuzzing (packages/fuzz, target pem): `pier ca inspect` threw raw OpenSSL errors on
// blocks whose PEM label did not match their content.
describe("inspectPkiFile with mislabelled PEM blocks", () => {
  const key = generateKeyPairSync("ecdsa-p256");
  const pkcs8 = key.privateKey.export({ type: "pkcs8", format: "der" });

  it("reads a PKCS#8 key labelled as PKCS#1 or SEC1", () => {
    expect(inspectPkiFile(Buffer.from(toPem("PRIVATE KEY", pkcs8)))).toContain("  Type:           ECDSA P-256");
    for (const label of ["RSA PRIVATE KEY", "EC PRIVATE KEY"]) {
      expect(inspectPkiFile(Buffer.from(toPem(label, pkcs8)))).toEqual(expect.arrayContaining(["Private key", "  Type:           ECDSA P-256"]));
    }
  });

  it("calls a certificate labelled PUBLIC KEY unrecognised instead of throwing", () => {
    const name = encodeName({ commonName: "mislabelled" });
    const der = signCertificate({ subject: name, issuer: name, publicKey: key.publicKey, signingKey: key.privateKey, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), extensions: [] });
    expect(inspectPkiFile(Buffer.from(toPem("CERTIFICATE", der)))[0]).toBe("Certificate (X.509 v3)");
    expect(inspectPkiFile(Buffer.from(toPem("PUBLIC KEY", der)))).toEqual(['PEM block "PUBLIC KEY" that Pier does not recognise']);
  });
});
