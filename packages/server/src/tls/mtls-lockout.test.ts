import { X509Certificate } from "node:crypto";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { mtlsImpact } from "./mtls-lockout.ts";

describe("mtlsImpact: what an mTLS upload would lock out", () => {
  let dir: TempDir;
  let ca: CertificateAuthority;
  let certificatePem: string;

  beforeAll(async () => {
    dir = tempDir("mtls-lockout");
    ca = await CertificateAuthority.create(dir.file("ca"), { commonName: "Upload CA" });
    certificatePem = (await ca.issueWithNewKey({ profile: "server", subjectAltNames: [{ type: "dns", value: "edge.example.com" }, { type: "dns", value: "*.devices.example.com" }, { type: "ip", value: "10.0.0.9" }] })).certificatePem;
  });
  afterAll(async () => {
    await dir[Symbol.asyncDispose]();
  });

  const input = { port: "9443", mainNames: ["pier.example.com", "edge.example.com", "10.0.0.5", "::1", "*.example.com"], agents: [] };

  it("a DNS name the certificate covers (exact or one-label wildcard) locks the browser out; an IP address never does (no SNI)", () => {
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "edge.example.com" }).coversHost).toBe(true);
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "EDGE.example.com" }).coversHost).toBe(true);
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "a.devices.example.com" }).coversHost).toBe(true);
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "a.b.devices.example.com" }).coversHost).toBe(false);
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "pier.example.com" }).coversHost).toBe(false);
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "10.0.0.9" }).coversHost).toBe(false);
  });

  it("keeps the normal certificate's names the new one does not cover, and 127.0.0.1; never the covered ones or wildcards", () => {
    const impact = mtlsImpact({ ...input, certificatePem, browserHost: "edge.example.com" });
    expect(impact.names).toEqual(["edge.example.com", "*.devices.example.com", "10.0.0.9"]);
    expect(impact.keepsWorking).toEqual(["https://pier.example.com:9443", "https://10.0.0.5:9443", "https://[::1]:9443", "https://127.0.0.1:9443"]);
  });

  it("counts connected agents without a certificate of the new CA as disconnected", () => {
    const issuer = new X509Certificate(ca.certificatePem).subject.replace(/\n/g, ", ");
    const agents = [{ certificateIssuer: issuer }, { certificateIssuer: "CN=Pier built-in CA (vm)" }, { certificateIssuer: null }];
    expect(mtlsImpact({ ...input, certificatePem, caPem: ca.certificatePem, browserHost: "10.0.0.5", agents })).toMatchObject({ connectedAgents: 3, disconnected: 2 });
    // Without the CA, no agent can be known to hold one of its certificates.
    expect(mtlsImpact({ ...input, certificatePem, browserHost: "10.0.0.5", agents })).toMatchObject({ connectedAgents: 3, disconnected: 3 });
  });

  it("counts the agents of every CA of a bundle as staying (issue 22: only the bundle's first CA was read)", async () => {
    const second = await CertificateAuthority.create(dir.file("second-ca"), { commonName: "Second upload CA" });
    const line = (pem: string) => new X509Certificate(pem).subject.replace(/\n/g, ", ");
    const agents = [{ certificateIssuer: line(ca.certificatePem) }, { certificateIssuer: line(second.certificatePem) }, { certificateIssuer: line(second.certificatePem) }, { certificateIssuer: "CN=Withdrawn CA" }];
    expect(mtlsImpact({ ...input, certificatePem, caPem: ca.certificatePem + second.certificatePem, browserHost: "10.0.0.5", agents })).toMatchObject({ connectedAgents: 4, disconnected: 1 });
    expect(mtlsImpact({ ...input, certificatePem, caPem: ca.certificatePem, browserHost: "10.0.0.5", agents })).toMatchObject({ connectedAgents: 4, disconnected: 3 });
    expect(() => mtlsImpact({ ...input, certificatePem, caPem: "no PEM here", browserHost: "10.0.0.5", agents })).toThrow(/CaCert is not a certificate: no PEM certificate/);
  });
});
