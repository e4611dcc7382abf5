import { expect, it, onTestFinished } from "vitest";
import { deviceCertificateRows } from "./device-certificate-row.testkit.ts";
import { type StoreEngine, describeOnEngines } from "./store-engines.testkit.ts";
import type { Store } from "./store.ts";

const minute = 60_000;
const day = 86_400_000;
const now = Date.UTC(2026, 11, 6, 12);
const caA = "a".repeat(64);
const caC = "c".repeat(64);

/**
 * A store holding five devices and seven certificates, one of each inventory status and expiry
 * window, and one certificate of a removed device:
 *
 * | serial | device          | left    | status     | window |
 * |--------|-----------------|---------|------------|--------|
 * | 04     | edge-3          | -1 day  | expired    | expired|
 * | 07     | edge-5 (CA c)   | 30 min  | expiring   | hour   |
 * | 03     | edge-2          | 2 days  | expiring   | week   |
 * | 05     | edge-4          | 10 days | revoked    | —      |
 * | 01     | edge-1 "Shop-1" | 20 days | superseded | —      |
 * | 02     | edge-1 "Shop-1" | 25 days | active     | month  |
 * | 06     | (removed)       | 40 days | active     | later  |
 */
async function seeded(engine: StoreEngine): Promise<{ store: Store; ids: number[] }> {
  const store = await engine.open();
  onTestFinished(() => store.close());
  const names = ["Shop-1", "shop_2%", "shop-3", "shop-4", "shop-5"];
  const ids: number[] = [];
  for (const [index, name] of names.entries()) ids.push((await store.environments.create({ name, type: "edge-agent", edgeId: `edge-${index + 1}` })).id);
  const [one, two, three, four, five] = ids as [number, number, number, number, number];
  const row = deviceCertificateRows(now);
  for (const certificate of [
    row("01", one, "edge-1", 30 * day, 20 * day),
    row("02", one, "edge-1", 30 * day, 25 * day, { reason: "renewal" }),
    row("03", two, "edge-2", 30 * day, 2 * day),
    row("04", three, "edge-3", 30 * day, -day),
    row("05", four, "edge-4", 30 * day, 10 * day, { revokedAt: new Date(now - minute), revocationReason: "keyCompromise" }),
    row("06", 9999, "edge-gone", 90 * day, 40 * day),
    row("07", five, "edge-5", day, 30 * minute, { caSpkiSha256: caC }),
  ]) {
    await store.certificates.insert(certificate);
  }
  await store.environments.update(one, { clientCertificate: { subject: "CN=edge-1", serialNumber: "02", fingerprintSha256: "f".repeat(64), notAfter: new Date(now + 25 * day), issuer: "CN=Pier CA" } });
  return { store, ids };
}

describeOnEngines("device certificate queries", (engine) => {
  it("pages the inventory by expiry with each status, the total of the filters and the expiry windows of the certificates in use", async () => {
    const { store } = await seeded(engine);
    const at = new Date(now);
    const all = await store.certificates.inventory({ start: 0, limit: 100, now: at });
    expect(all.rows.map((row) => [row.serial, row.status])).toEqual([
      ["04", "expired"],
      ["07", "expiring"],
      ["03", "expiring"],
      ["05", "revoked"],
      ["01", "superseded"],
      ["02", "active"],
      ["06", "active"],
    ]);
    expect(all.rows.find((row) => row.serial === "06")).toMatchObject({ environmentName: "", edgeId: "edge-gone" });
    expect(all.rows.find((row) => row.serial === "02")).toMatchObject({ environmentName: "Shop-1", reason: "renewal", notAfter: new Date(now + 25 * day) });
    expect(all.total).toBe(7);
    expect(all.expiry).toEqual({ expired: 1, hour: 1, day: 0, week: 1, month: 1, later: 1 });

    const page = await store.certificates.inventory({ start: 1, limit: 3, now: at });
    expect([page.rows.map((row) => row.serial), page.total]).toEqual([["07", "03", "05"], 7]);
    const expiring = await store.certificates.inventory({ start: 0, limit: 100, status: "expiring", now: at });
    expect([expiring.rows.map((row) => row.serial), expiring.total]).toEqual([["07", "03"], 2]);
  });

  it("searches the inventory case-insensitively, taking LIKE's wildcards literally", async () => {
    const { store } = await seeded(engine);
    const search = async (text: string) => (await store.certificates.inventory({ start: 0, limit: 100, search: text, now: new Date(now) })).rows.map((row) => row.serial);
    expect(await search("SHOP-1")).toEqual(["01", "02"]);
    expect(await search("_2%")).toEqual(["03"]);
    // Unescaped, "e_2" would match "edge-2".
    expect(await search("e_2")).toEqual([]);
    expect(await search("EDGE-GONE")).toEqual(["06"]);
  });

  it("tells which of many serials are recorded, across its 1000-serial batches", async () => {
    const { store } = await seeded(engine);
    const serials = Array.from({ length: 1500 }, (_, index) => `f${index.toString(16)}`);
    serials[10] = "01";
    serials[1200] = "06";
    expect(await store.certificates.recordedSerials(serials)).toEqual(new Set(["01", "06"]));
    expect(await store.certificates.recordedSerials([])).toEqual(new Set());
  });

  it("finds each existing device's last certificate expiring in a window with nothing newer", async () => {
    const { store } = await seeded(engine);
    const found = await store.certificates.expiringWithoutRenewal(new Date(now), new Date(now + 15 * day));
    expect(found.map((certificate) => certificate.serial).sort()).toEqual(["03", "07"]);
  });

  it("lists the devices a CA rotation counts, with the serial each presented, and each device's newest certificate", async () => {
    const { store, ids } = await seeded(engine);
    const [one, two, three, four, five] = ids as [number, number, number, number, number];
    expect(await store.rotation.devices([caA])).toEqual([
      { environmentId: one, name: "Shop-1", edgeId: "edge-1", serial: "02", caSpkiSha256: caA, lastCheckInAt: null, presentedSerial: "02" },
      { environmentId: two, name: "shop_2%", edgeId: "edge-2", serial: "03", caSpkiSha256: caA, lastCheckInAt: null, presentedSerial: null },
      { environmentId: three, name: "shop-3", edgeId: "edge-3", serial: "04", caSpkiSha256: caA, lastCheckInAt: null, presentedSerial: null },
    ]);
    expect((await store.rotation.devices([caC, caA])).map((device) => device.environmentId)).toEqual([one, two, three, five]);
    expect(await store.rotation.devices([])).toEqual([]);
    expect(await store.rotation.newestCertificate(one)).toEqual({ serial: "02", caSpkiSha256: caA });
    expect(await store.rotation.newestCertificate(four)).toBeNull();
  });

  it("keeps the one rotation row, replaced by each put", async () => {
    const { store } = await seeded(engine);
    expect(await store.rotation.get()).toBeNull();
    const record = { phase: "rotating" as const, fromCa: caA, toCa: caC, startedAt: new Date(now), updatedAt: new Date(now), windowSeconds: 600 };
    await store.rotation.put(record);
    await store.rotation.put({ ...record, phase: "finishing", updatedAt: new Date(now + minute), windowSeconds: 0 });
    expect(await store.rotation.get()).toEqual({ ...record, phase: "finishing", updatedAt: new Date(now + minute), windowSeconds: 0 });
  });
});
