import { readFileSync } from "node:fs";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../server.ts";
import { deviceCertificateRows } from "../../store/device-certificate-row.testkit.ts";
import type { ClientCertificateInfo } from "../../store/store.ts";
import { type TempDir, tempDir } from "../../store/temp-dir.testkit.ts";
import { startAdminServer } from "../admin-server.testkit.ts";
import type { ApiClient } from "../api-client.testkit.ts";

const password = "correct horse battery staple";
const second = 1000;
const day = 86_400 * second;

interface Page {
  Items: { Serial: string; EnvironmentName: string; EdgeID: string; Status: string; Source: string; SharedBy: number; Reason: string }[];
  Total: number;
  Expiry: Record<string, number>;
}

/**
 * The certificate inventory (`GET /api/pki/device-certificates`), the CA download and the mTLS
 * impact check, against a real server on loopback. The `device_certificates` rows are seeded
 * through the store (a stand-in for issuance, which tests of its own cover), with dates chosen
 * to give each status.
 */
describe("the certificate inventory and the CA download", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const now = Date.now();

  const row = deviceCertificateRows(now);
  const operatorCertificate = (serialNumber: string, fingerprint: string): ClientCertificateInfo => ({
    subject: "CN=edge-client",
    issuer: "CN=Operator CA",
    serialNumber,
    fingerprintSha256: fingerprint.repeat(64),
    notAfter: new Date(now + 200 * day),
    notBefore: new Date(now - day),
  });

  beforeAll(async () => {
    dir = tempDir("pki-inventory");
    ({ server, api } = await startAdminServer(dir, password));

    const { environments, certificates } = server.store;
    const renewed = await environments.create({ name: "renewed", type: "edge-agent", edgeId: "edge-renewed", userTrusted: true });
    const shortLived = await environments.create({ name: "short-lived", type: "edge-agent", edgeId: "edge-short", userTrusted: true });
    const revoked = await environments.create({ name: "revoked", type: "edge-agent", edgeId: "edge-revoked", userTrusted: true });
    const offline = await environments.create({ name: "offline", type: "edge-agent", edgeId: "edge-offline", userTrusted: true });
    // edge-renewed renewed: its first certificate (still unexpired) is superseded by the second.
    await certificates.insert(row("10", renewed.id, "edge-renewed", 30 * day, 10 * day));
    await certificates.insert(row("11", renewed.id, "edge-renewed", 30 * day, 25 * day, { reason: "renewal" }));
    // A 5 h certificate with 50 min left (under a third of its life): expiring, in the < 1 hour window.
    // Its serial's first byte is under 0x10: stored "0b20", shown by X509Certificate as "0B20".
    await certificates.insert(row("0b20", shortLived.id, "edge-short", 5 * 3600 * second, 50 * 60 * second));
    await certificates.insert(row("30", revoked.id, "edge-revoked", 30 * day, 20 * day, { revokedAt: new Date(now - 60 * second), revocationReason: "keyCompromise" }));
    await certificates.insert(row("40", offline.id, "edge-offline", 30 * day, -day));
    // The device of "renewed" presents its Pier certificate: it must not also appear as the operator's.
    await environments.update(renewed.id, { clientCertificate: { subject: "CN=edge-renewed", issuer: "CN=Pier CA", serialNumber: "011", fingerprintSha256: "c".repeat(64), notAfter: new Date(now + 25 * day) } });
    await environments.update(shortLived.id, { clientCertificate: { subject: "CN=edge-short", issuer: "CN=Pier CA", serialNumber: "0B20", fingerprintSha256: "f".repeat(64), notAfter: new Date(now + 50 * 60 * second) } });
    // The seeds' flow: one operator certificate on two devices (shared), another on one device.
    await environments.create({ name: "shop-1", type: "edge-agent", edgeId: "shop-1", userTrusted: true, clientCertificate: operatorCertificate("0a1", "d") });
    await environments.create({ name: "shop-2", type: "edge-agent", edgeId: "shop-2", userTrusted: true, clientCertificate: operatorCertificate("0a1", "d") });
    await environments.create({ name: "shop-3", type: "edge-agent", edgeId: "shop-3", userTrusted: true, clientCertificate: operatorCertificate("0a2", "e") });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const inventory = async (query = "") => {
    const answer = await api.call("GET", `/api/pki/device-certificates${query}`);
    expect(answer.status, answer.text).toBe(200);
    return answer.json as unknown as Page;
  };

  it("lists Pier's certificates with their status, then the operator's with the count of devices presenting each", async () => {
    const page = await inventory();
    expect(page.Total).toBe(7);
    expect(page.Items.map((item) => [item.Serial, item.Status, item.Source, item.SharedBy])).toEqual([
      ["40", "expired", "built-in", 1],
      ["0b20", "expiring", "built-in", 1],
      ["10", "superseded", "built-in", 1],
      ["30", "revoked", "built-in", 1],
      ["11", "active", "built-in", 1],
      ["a1", "shared", "operator", 2],
      ["a2", "active", "operator", 1],
    ]);
    expect(page.Items.find((item) => item.Serial === "11")).toMatchObject({ EnvironmentName: "renewed", EdgeID: "edge-renewed", Reason: "renewal" });
    // In use: 40 (expired), 0b20 (< 1 hour), 11 (< 30 days), a1 and a2 (later); not the revoked or superseded.
    expect(page.Expiry).toEqual({ Expired: 1, Hour: 1, Day: 0, Week: 0, Month: 1, Later: 2 });
  });

  it("filters by status and searches names, serials and environments", async () => {
    expect((await inventory("?status=expiring")).Items.map((item) => item.EdgeID)).toEqual(["edge-short"]);
    expect((await inventory("?status=shared")).Items.map((item) => item.Serial)).toEqual(["a1"]);
    expect((await inventory("?status=revoked")).Total).toBe(1);
    expect((await inventory("?search=RENEW")).Items.map((item) => item.Serial)).toEqual(["10", "11"]);
    expect((await inventory("?search=shop-2")).Items.map((item) => item.Serial)).toEqual([]);
    expect((await inventory("?search=shop-3")).Items.map((item) => item.Serial)).toEqual(["a2"]);
    // LIKE's wildcards are taken literally.
    expect((await inventory(`?search=${encodeURIComponent("%")}`)).Total).toBe(0);
  });

  it("pages across Pier's rows and the operator's without losing or repeating one", async () => {
    const pages = await Promise.all([0, 2, 4, 6].map((start) => inventory(`?start=${start}&limit=2`)));
    expect(pages.map((page) => page.Total)).toEqual([7, 7, 7, 7]);
    expect(pages.flatMap((page) => page.Items.map((item) => item.Serial))).toEqual(["40", "0b20", "10", "30", "11", "a1", "a2"]);
  });

  it("refuses a page over 500 rows, a search over 128 characters and an unknown status with 400 naming the field", async () => {
    expect((await api.call("GET", "/api/pki/device-certificates?limit=500")).status).toBe(200);
    const tooMany = await api.call("GET", "/api/pki/device-certificates?limit=501");
    expect(tooMany.status).toBe(400);
    expect(tooMany.json).toMatchObject({ field: "limit", message: expect.stringContaining("at most 500 rows per page") as unknown });
    expect((await api.call("GET", `/api/pki/device-certificates?search=${"x".repeat(128)}`)).status).toBe(200);
    const longSearch = await api.call("GET", `/api/pki/device-certificates?search=${"x".repeat(129)}`);
    expect(longSearch.status).toBe(400);
    expect(longSearch.json).toMatchObject({ field: "search" });
    expect((await api.call("GET", "/api/pki/device-certificates?status=valid")).json).toMatchObject({ field: "status" });
    expect((await api.call("GET", "/api/pki/device-certificates?start=-1")).status).toBe(400);
    expect((await api.call("GET", "/api/pki/device-certificates", { token: null })).status).toBe(401);
  });

  it("downloads the built-in CA's certificate as an attachment, to a signed-in user only", async () => {
    const answer = await api.call("GET", "/api/pki/ca");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/x-pem-file");
    expect(answer.headers["content-disposition"]).toBe('attachment; filename="pier-ca.pem"');
    expect(answer.text).toBe(readFileSync(dir.file("data/ca/ca.crt"), "utf8"));
    expect((await api.call("GET", "/api/pki/ca", { token: null })).status).toBe(401);
  });
});

describe("the mTLS lock-out check (POST /api/settings/edge/mtls/impact)", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let mtls: { certificatePem: string; caPem: string };

  beforeAll(async () => {
    dir = tempDir("mtls-impact");
    ({ server, api } = await startAdminServer(dir, password));
    const ca = await CertificateAuthority.create(dir.file("operator-ca"), { commonName: "Operator CA" });
    const issued = await ca.issueWithNewKey({ profile: "server", subjectAltNames: [{ type: "dns", value: "localhost" }, { type: "dns", value: "*.devices.test" }] });
    mtls = { certificatePem: issued.certificatePem, caPem: ca.certificatePem };
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("says a browser on a name the certificate covers would be locked out, and names an address that keeps working", async () => {
    const covered = await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: mtls.certificatePem, CaCert: mtls.caPem, Host: "localhost" } });
    expect(covered.status, covered.text).toBe(200);
    const port = server.httpsAddress.port;
    expect(covered.json).toMatchObject({ Names: ["localhost", "*.devices.test"], CoversHost: true, ConnectedAgents: 0, Disconnected: 0 });
    expect(covered.json["KeepsWorking"]).toContain(`https://127.0.0.1:${port}`);
    expect(covered.json["KeepsWorking"]).not.toContain(`https://localhost:${port}`);
    // Browsers send no SNI for an IP address: the HTTPS listener always gives it the UI.
    expect((await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: mtls.certificatePem, Host: "127.0.0.1" } })).json).toMatchObject({ CoversHost: false });
    expect((await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: mtls.certificatePem, Host: "a.devices.test" } })).json).toMatchObject({ CoversHost: true });
    expect((await api.call("GET", "/api/settings/edge/mtls")).json).toMatchObject({ Source: "none" });
  });

  it("refuses what is not a certificate and fields over 64 KiB with 400 naming the field", async () => {
    const notPem = await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: "hello", Host: "localhost" } });
    expect(notPem.status).toBe(400);
    expect(notPem.json).toMatchObject({ field: "Cert" });
    const huge = await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: "x".repeat(64 * 1024 + 1), Host: "localhost" } });
    expect(huge.status).toBe(400);
    expect(huge.json).toMatchObject({ field: "Cert" });
    expect((await api.call("POST", "/api/settings/edge/mtls/impact", { body: { Cert: mtls.certificatePem, Host: "h".repeat(254) } })).json).toMatchObject({ field: "Host" });
  });
});
