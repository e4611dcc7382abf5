import { expect, it, onTestFinished } from "vitest";
import type { DeviceCertificate } from "./device-certificates.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine): Promise<Store> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  return store;
}

function certificate(serial: string, issuedAt: Date, environmentId = 1): DeviceCertificate {
  return {
    serial,
    environmentId,
    edgeId: "edge-1",
    subject: "CN=edge-1",
    issuer: "CN=Pier built-in CA",
    caSpkiSha256: "aa".repeat(32),
    spkiSha256: "bb".repeat(32),
    notBefore: new Date(issuedAt.getTime() - 300_000),
    notAfter: new Date(issuedAt.getTime() + 86_400_000),
    issuedAt,
    reason: "enrollment",
    revokedAt: null,
    revocationReason: null,
    certificatePem: "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
  };
}

describeOnEngines("device certificates store", (engine) => {
  it("records issued certificates and lists them newest first, per environment and in all", async () => {
    const store = await opened(engine);
    expect(await store.certificates.list()).toEqual([]);
    const older = certificate("1a", new Date("2026-01-01T00:00:00Z"));
    const newer = { ...certificate("2b", new Date("2026-02-01T00:00:00Z")), reason: "renewal" as const, revokedAt: new Date("2026-02-02T00:00:00Z"), revocationReason: "keyCompromise" };
    const other = certificate("3c", new Date("2026-01-15T00:00:00Z"), 2);
    for (const c of [older, newer, other]) await store.certificates.insert(c);
    expect(await store.certificates.get("2b")).toEqual(newer);
    expect(await store.certificates.get("ff")).toBeNull();
    expect((await store.certificates.listByEnvironment(1)).map((c) => c.serial)).toEqual(["2b", "1a"]);
    expect((await store.certificates.list()).map((c) => c.serial)).toEqual(["2b", "3c", "1a"]);
    await expect(store.certificates.insert(older)).rejects.toMatchObject({ code: "conflict" });
  });

  it("keeps an environment's enrollment CSR (bytes), key fingerprint and re-enrollment", async () => {
    const store = await opened(engine);
    const created = await store.environments.create({ name: "edge-1", type: "edge-agent" });
    expect(created.enrollmentCsr).toBeNull();
    const at = new Date("2026-03-01T00:00:00Z");
    const updated = await store.environments.update(created.id, { enrollmentCsr: Buffer.from([0x30, 0x01, 0x00]), enrollmentKeySha256: "cd".repeat(32), reenrollment: { previousSerial: "1a", sameKey: true, at } });
    expect(updated.enrollmentCsr).toEqual(Buffer.from([0x30, 0x01, 0x00]));
    expect(await store.environments.get(created.id)).toMatchObject({ enrollmentKeySha256: "cd".repeat(32), reenrollment: { previousSerial: "1a", sameKey: true, at } });
    await expect(store.environments.update(created.id, { enrollmentKeySha256: "not hex" })).rejects.toMatchObject({ code: "bad_request", field: "enrollmentKeySha256" });
  });
});
