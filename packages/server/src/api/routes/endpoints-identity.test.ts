import { X509Certificate } from "node:crypto";
import { createCsr, generateKeyPair, spkiSha256 } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import type { ClientCertificateInfo } from "../../store/store.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";

interface Identity {
  Flow: string;
  EnrollmentKeyFingerprint: string | null;
  Reenrollment: { PreviousSerial: string; SameKey: boolean; At: string } | null;
  Certificate: { Serial: string; NotAfter: string; Status: string } | null;
}
interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Pier: { ClientCertificate: { SharedBy: number } | null; Identity: Identity };
}

/**
 * `Pier.Identity` and `Pier.ClientCertificate.SharedBy` on /api/endpoints, and association by
 * `PUT /api/endpoints/{id}` issuing the certificate, against a real server on loopback. Devices
 * are seeded through the store (their hellos are covered by identity/enrollment.test.ts).
 */
describe("the identity of a device in the API", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;

  const operatorCertificate = (fingerprint: string): ClientCertificateInfo => ({ subject: "CN=edge-client", issuer: "CN=Operator CA", serialNumber: "0a1", fingerprintSha256: fingerprint.repeat(64), notAfter: new Date(Date.now() + 86_400_000) });

  beforeAll(async () => {
    dir = tempDir("endpoints-identity");
    ({ server, api } = await startAdminServer(dir, password));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const endpoint = async (id: number) => (await api.call("GET", `/api/endpoints/${id}`)).json as unknown as Endpoint;

  it("counts the environments that present one certificate (SharedBy) and says which flow each device is in", async () => {
    const { environments } = server.store;
    const shop1 = await environments.create({ name: "shop-1", type: "edge-agent", edgeId: "shop-1", userTrusted: true, identity: { kind: "certificate", value: "d".repeat(64) }, clientCertificate: operatorCertificate("d") });
    await environments.create({ name: "shop-2", type: "edge-agent", edgeId: "shop-2", userTrusted: true, identity: { kind: "certificate", value: "d".repeat(64) }, clientCertificate: operatorCertificate("d") });
    const own = await environments.create({ name: "own", type: "edge-agent", edgeId: "own", userTrusted: true, identity: { kind: "certificate", value: "e".repeat(64) }, clientCertificate: operatorCertificate("e") });
    const token = await environments.create({ name: "token", type: "edge-agent", edgeId: "token", userTrusted: true, identity: { kind: "token", value: "f".repeat(64) } });
    expect((await endpoint(shop1.id)).Pier).toMatchObject({ ClientCertificate: { SharedBy: 2 }, Identity: { Flow: "operator", EnrollmentKeyFingerprint: null, Certificate: null, Reenrollment: null } });
    expect((await endpoint(own.id)).Pier.ClientCertificate?.SharedBy).toBe(1);
    expect((await endpoint(token.id)).Pier).toMatchObject({ ClientCertificate: null, Identity: { Flow: "token" } });
    // One environment's SharedBy is one counting query, not a read of every environment.
    const listAll = environments.list.bind(environments);
    let listed = 0;
    environments.list = (filter) => ((listed += 1), listAll(filter));
    try {
      expect((await endpoint(shop1.id)).Pier.ClientCertificate?.SharedBy).toBe(2);
      expect(listed).toBe(0);
    } finally {
      environments.list = listAll;
    }
    const list = (await api.call("GET", "/api/endpoints")).json as unknown as Endpoint[];
    expect(list.filter((e) => e.Pier.ClientCertificate?.SharedBy === 2).map((e) => e.EdgeID).sort()).toEqual(["shop-1", "shop-2"]);
  });

  it("PUT UserTrusted: true associates a waiting device that enrolled with a CSR and issues its certificate", async () => {
    const keys = await generateKeyPair("ecdsa-p256");
    const keySha256 = spkiSha256(keys.publicKey);
    const waiting = await server.store.environments.create({
      name: "waiting",
      type: "edge-agent",
      edgeId: "edge-waiting",
      identity: { kind: "token", value: "a".repeat(64) },
      enrollmentCsr: createCsr({ privateKey: keys.privateKey, subject: { commonName: "ignored" } }),
      enrollmentKeySha256: keySha256,
    });
    expect((await endpoint(waiting.id)).Pier.Identity).toEqual({ Flow: "built-in", EnrollmentKeyFingerprint: keySha256, Reenrollment: null, Certificate: null });
    const answer = await api.call("PUT", `/api/endpoints/${waiting.id}`, { body: { UserTrusted: true } });
    expect(answer.status).toBe(200);
    const view = answer.json as unknown as Endpoint;
    expect(view.UserTrusted).toBe(true);
    expect(view.Pier.Identity.Certificate).toMatchObject({ Status: "active" });
    const [issued] = await server.store.certificates.listByEnvironment(waiting.id);
    expect(issued?.serial).toBe(view.Pier.Identity.Certificate?.Serial);
    expect(spkiSha256(new X509Certificate(issued?.certificatePem ?? "").publicKey)).toBe(keySha256);
    expect((await server.store.audit.list({ environmentId: waiting.id })).map((e) => e.kind)).toEqual(["certificate_issued", "associated"]);
    // Portainer's own use of PUT (a rename) issues nothing more.
    expect((await api.call("PUT", `/api/endpoints/${waiting.id}`, { body: { Name: "renamed" } })).status).toBe(200);
    expect(await server.store.certificates.listByEnvironment(waiting.id)).toHaveLength(1);
  });
});
