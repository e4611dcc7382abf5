import { describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import { encodeName, formatNameDer, parseSanList } from "./names.ts";
import { generateKeyPairSync } from "./keys.ts";
import { signCertificate, parseCertificate } from "./certificate.ts";
import { profileExtensions } from "./profiles.ts";
import { keyIdentifier } from "./extensions.ts";

describe("subject alternative names", () => {
  it("parses the --san syntax, including bare values", () => {
    expect(parseSanList("DNS:Pier.Example.com, IP:10.0.0.5,URI:spiffe://acme/edge/1,email:ops@acme.io,edge.local,::1")).toEqual([
      { type: "dns", value: "pier.example.com" },
      { type: "ip", value: "10.0.0.5" },
      { type: "uri", value: "spiffe://acme/edge/1" },
      { type: "email", value: "ops@acme.io" },
      { type: "dns", value: "edge.local" },
      { type: "ip", value: "::1" },
    ]);
  });

  it("refuses what is not a name, naming the bad entry", () => {
    expect(() => parseSanList("DNS:bad_name.example")).toThrow(/"bad_name.example" is not a valid DNS name/);
    expect(() => parseSanList("IP:300.1.1.1")).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => parseSanList("DNS:a.*.example.com")).toThrow(expect.objectContaining({ code: "invalid_san" }));
    expect(() => parseSanList("XYZ:foo")).toThrow(/Unknown SAN type/);
  });

  it("writes SANs that OpenSSL reads back, IPv6 included", () => {
    const { privateKey, publicKey } = generateKeyPairSync();
    const sans = parseSanList("DNS:*.edge.example.com,IP:192.0.2.7,IP:2001:db8::42,IP:::ffff:192.0.2.1");
    const subject = encodeName({ commonName: "edge" });
    const der = signCertificate({
      subject,
      issuer: subject,
      publicKey,
      signingKey: privateKey,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: profileExtensions("server", { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), subjectAltNames: sans }),
    });
    const x509 = new X509Certificate(der);
    expect(x509.subjectAltName).toBe("DNS:*.edge.example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:42, IP Address:0:0:0:0:0:FFFF:C000:201");
    expect(x509.checkHost("a.edge.example.com")).toBe("*.edge.example.com");
    expect(x509.checkHost("edge.example.com")).toBeUndefined();
    expect(x509.checkIP("2001:db8::42")).toBe("2001:db8::42");
    expect(parseCertificate(der).extensions.subjectAltNames).toEqual([
      { type: "dns", value: "*.edge.example.com" },
      { type: "ip", value: "192.0.2.7" },
      { type: "ip", value: "2001:db8::42" },
      { type: "ip", value: "::ffff:c000:201" },
    ]);
  });
});

describe("names", () => {
  it("encodes and formats distinguished names", () => {
    expect(formatNameDer(encodeName({ organization: "Acme", commonName: "edge-17" }))).toBe("O=Acme, CN=edge-17");
    expect(() => encodeName({ commonName: "x".repeat(65) })).toThrow(/1–64 characters/);
    expect(() => encodeName({ commonName: "a\nb" })).toThrow(/control characters/);
  });
});
