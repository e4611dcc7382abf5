import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { registerScrapeGauges, storeGaugeCacheMs, type ScrapeSources } from "./scrape-gauges.ts";

const day = 86_400_000;

function harness(overrides: Partial<ScrapeSources> = {}) {
  let now = Date.parse("2026-12-07T12:00:00Z");
  const reads = { waitingRoom: 0, deviceExpiry: 0 };
  const registry = new Registry();
  registerScrapeGauges(registry, {
    agentsConnected: () => 3,
    waitingRoom: () => {
      reads.waitingRoom++;
      return Promise.resolve(5);
    },
    certificates: () => [
      { kind: "server", notAfter: new Date(now + 90 * day) },
      { kind: "device_ca", notAfter: new Date(now + 10 * day) },
      // During a CA rotation two CAs are trusted: the one that expires first is the one shown.
      { kind: "device_ca", notAfter: new Date(now + 2 * day) },
      { kind: "mtls", notAfter: new Date(now - 60_000) },
    ],
    deviceExpiry: () => {
      reads.deviceExpiry++;
      return Promise.resolve({ expired: 1, hour: 0, day: 2, week: 0, month: 4, later: 40 });
    },
    now: () => now,
    ...overrides,
  });
  const samples = async () => (await registry.metrics()).split("\n").filter((line) => line !== "" && !line.startsWith("#"));
  return { registry, reads, samples, advance: (ms: number) => (now += ms) };
}

describe("gauges computed at scrape", () => {
  it("reads connected agents, the waiting room, certificate expiry (earliest per kind) and device certificates by window", async () => {
    const { samples } = harness();
    expect(await samples()).toEqual(
      expect.arrayContaining([
        "pier_agents_connected 3",
        "pier_waiting_room_devices 5",
        'pier_certificate_expiry_seconds{certificate="server"} 7776000',
        'pier_certificate_expiry_seconds{certificate="device_ca"} 172800',
        'pier_certificate_expiry_seconds{certificate="mtls"} -60',
        'pier_device_certificates{expires="expired"} 1',
        'pier_device_certificates{expires="day"} 2',
        'pier_device_certificates{expires="later"} 40',
      ]),
    );
  });

  it("reads the store at most once per 10 s, however often it is scraped", async () => {
    const { reads, samples, advance } = harness();
    await samples();
    await samples();
    expect(reads).toEqual({ waitingRoom: 1, deviceExpiry: 1 });
    advance(storeGaugeCacheMs - 1);
    await samples();
    expect(reads).toEqual({ waitingRoom: 1, deviceExpiry: 1 });
    advance(1);
    await samples();
    expect(reads).toEqual({ waitingRoom: 2, deviceExpiry: 2 });
  });

  it("does not keep a failed read: the scrape fails, the next one reads again", async () => {
    let fail = true;
    let reads = 0;
    const { samples } = harness({
      waitingRoom: () => {
        reads++;
        return fail ? Promise.reject(new Error("database down")) : Promise.resolve(7);
      },
    });
    await expect(samples()).rejects.toThrow(/database down/);
    fail = false;
    expect(await samples()).toContain("pier_waiting_room_devices 7");
    expect(reads).toBe(2);
  });
});
