import { expect, it, onTestFinished } from "vitest";
import type { DeviceCertificate } from "./device-certificates.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

async function opened(engine: StoreEngine): Promise<Store> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  return store;
}

const day = 86_400_000;

function certificate(serial: string, environmentId: number, notAfter: Date): DeviceCertificate {
  return {
    serial,
    environmentId,
    edgeId: `edge-${environmentId}`,
    subject: `CN=edge-${environmentId}`,
    issuer: "CN=Pier built-in CA",
    caSpkiSha256: "aa".repeat(32),
    spkiSha256: "bb".repeat(32),
    notBefore: new Date(notAfter.getTime() - 30 * day),
    notAfter,
    issuedAt: new Date(notAfter.getTime() - 30 * day),
    reason: "enrollment",
    revokedAt: null,
    revocationReason: null,
    certificatePem: "",
  };
}

describeOnEngines("device certificates store: revocation", (engine) => {
  it("revokes an environment's unexpired certificates once, and lists the revoked unexpired ones", async () => {
    const store = await opened(engine);
    const now = new Date("2026-06-01T00:00:00Z");
    const current = certificate("0a", 1, new Date(now.getTime() + 10 * day));
    const previous = certificate("0b", 1, new Date(now.getTime() + day));
    const expired = certificate("0c", 1, new Date(now.getTime() - day));
    const otherDevice = certificate("0d", 2, new Date(now.getTime() + 10 * day));
    for (const c of [current, previous, expired, otherDevice]) await store.certificates.insert(c);
    expect(await store.certificates.revokedUnexpired(now)).toEqual([]);

    const revoked = await store.certificates.revokeForEnvironment(1, { at: now, reason: "keyCompromise" });
    expect(revoked.map((c) => c.serial).sort()).toEqual(["0a", "0b"]);
    expect(revoked[0]).toMatchObject({ revokedAt: now, revocationReason: "keyCompromise" });
    expect(await store.certificates.get("0c")).toMatchObject({ revokedAt: null });
    expect(await store.certificates.get("0d")).toMatchObject({ revokedAt: null });
    // A second revocation changes nothing and says so.
    expect(await store.certificates.revokeForEnvironment(1, { at: now, reason: "unspecified" })).toEqual([]);
    expect(await store.certificates.get("0a")).toMatchObject({ revocationReason: "keyCompromise" });

    expect(await store.certificates.revoke(["0d", "0d", "0a", "ff"], { at: now, reason: "superseded" })).toMatchObject([{ serial: "0d", revocationReason: "superseded" }]);
    expect((await store.certificates.revokedUnexpired(now)).map((c) => c.serial).sort()).toEqual(["0a", "0b", "0d"]);
    expect((await store.certificates.revokedUnexpired(new Date(now.getTime() + 2 * day))).map((c) => c.serial).sort()).toEqual(["0a", "0d"]);
  });
});
