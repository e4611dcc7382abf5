import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caPaths, certificateToPem, encodeName, generateKeyPairSync, keyIdentifier, parseCertificate, privateKeyToPem, profileExtensions, signCertificate } from "@pier/pki";
import { refusedCodes } from "@pier/protocol";
import { type TestCa } from "../tls/tls-fixtures.testkit.ts";
import type { EdgeService } from "./edge-service.ts";
import type { EdgeListener } from "./edge-listener.testkit.ts";
import { type MtlsEdgeRoutes, startMtlsEdgeRoutes } from "./mtls-edge-routes.testkit.ts";
import { TestAgent } from "./test-agent.testkit.ts";

/**
 * A client certificate valid for `seconds` from now, signed by `ca` (the CA's own `issue*` takes
 * whole days or at least a minute; a session must see its certificate expire within a test).
 */
function shortLivedClient(ca: TestCa, commonName: string, seconds: number): { cert: string; key: string; serial: string } {
  const caCertificate = parseCertificate(new X509Certificate(ca.pem).raw);
  const signingKey = createPrivateKey(readFileSync(caPaths(ca.authority.dir).key));
  const pair = generateKeyPairSync("ecdsa-p256");
  const now = Date.now();
  const der = signCertificate({
    subject: encodeName({ commonName }),
    issuer: caCertificate.subjectDer,
    publicKey: pair.publicKey,
    signingKey,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + seconds * 1000),
    extensions: profileExtensions("client", { subjectKey: pair.publicKey, issuerKeyId: keyIdentifier(caCertificate.publicKey) }),
  });
  return { cert: certificateToPem(der), key: privateKeyToPem(pair.privateKey), serial: parseCertificate(der).serialNumber };
}

describe("edge sessions over mutual TLS", () => {
  let routes: MtlsEdgeRoutes;
  let ca: TestCa;
  let edge: EdgeService;
  let listener: EdgeListener;
  let port: number;
  let logs: string[] = [];

  beforeAll(async () => {
    routes = await startMtlsEdgeRoutes("session-expiry");
    ({ ca, edge, listener, logs } = routes);
    ({ port } = listener);
  });

  afterAll(() => routes[Symbol.asyncDispose]());

  it("closes a session when the client certificate it was opened with expires, with a refused frame saying so", async () => {
    const client = shortLivedClient(ca, "expiring-device", 3);
    await using agent = await TestAgent.connect({ port, ca: ca.pem, cert: client.cert, key: client.key, edgeId: "expiring-device" });
    // Precondition: the session was open and associated with this certificate.
    expect(agent.welcome.status).toBe("associated");
    expect(edge.isConnected(agent.welcome.environmentId)).toBe(true);
    const opened = Date.now();
    const refused = await agent.next("refused", 8_000);
    const after = Date.now() - opened;
    expect(refused.code).toBe(refusedCodes.expired);
    expect(refused.message).toContain(client.serial);
    // Not before expiry (3 s from issuance), and promptly after it.
    expect(after).toBeGreaterThan(1_500);
    expect(after).toBeLessThan(5_000);
    expect(edge.isConnected(agent.welcome.environmentId)).toBe(false);
    expect(logs.some((line) => line.includes(`client certificate ${client.serial} expired`))).toBe(true);
  });

  it("keeps a session whose certificate is still valid", async () => {
    const client = shortLivedClient(ca, "lasting-device", 3600);
    await using agent = await TestAgent.connect({ port, ca: ca.pem, cert: client.cert, key: client.key, edgeId: "lasting-device" });
    await expect(agent.next("refused", 3_500)).rejects.toThrow(/no refused frame/);
    expect(edge.isConnected(agent.welcome.environmentId)).toBe(true);
  });
});
