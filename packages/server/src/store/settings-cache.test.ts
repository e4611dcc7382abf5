import { describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { SettingsCache } from "./settings-cache.ts";
import { defaultSettings } from "./store.ts";

/** A settings source that counts its reads and answers what `current` holds at the time. */
function countingSource() {
  const source = {
    reads: 0,
    current: { ...defaultSettings },
    fail: false,
    get: () => {
      source.reads++;
      return source.fail ? Promise.reject(new Error("database down")) : Promise.resolve({ ...source.current });
    },
  };
  return source;
}

describe("SettingsCache", () => {
  it("serves reads within maxAgeMs from memory, one store read for concurrent and later callers", async () => {
    const source = countingSource();
    let now = 1_000;
    const cache = new SettingsCache(source, { maxAgeMs: 1_000, now: () => now });
    await Promise.all([cache.get(), cache.get(), cache.get()]);
    now += 999;
    await cache.get();
    expect(source.reads).toBe(1);
    now += 2;
    await cache.get();
    expect(source.reads).toBe(2);
  });

  it("reads the store again after forget(), and never serves a read that began before it", async () => {
    const source = countingSource();
    const cache = new SettingsCache(source, { now: () => 0 });
    expect((await cache.get()).trustOnFirstConnect).toBe(false);
    const inFlight = cache.get();
    source.current = { ...source.current, trustOnFirstConnect: true };
    cache.forget();
    expect((await cache.get()).trustOnFirstConnect).toBe(true);
    await inFlight;
    expect((await cache.get()).trustOnFirstConnect).toBe(true);
    expect(source.reads).toBe(2);
  });

  it("refuses a negative or NaN maxAgeMs with the package's error (config_invalid)", () => {
    const source = countingSource();
    expect(() => new SettingsCache(source, { maxAgeMs: 0 })).not.toThrow();
    for (const maxAgeMs of [-1, Number.NaN]) {
      let thrown: unknown;
      try {
        new SettingsCache(source, { maxAgeMs });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ServerError);
      expect(thrown).toMatchObject({ code: "config_invalid", field: "maxAgeMs" });
    }
  });

  it("does not keep a failed read", async () => {
    const source = countingSource();
    const cache = new SettingsCache(source, { now: () => 0 });
    source.fail = true;
    await expect(cache.get()).rejects.toThrow("database down");
    source.fail = false;
    expect((await cache.get()).edgeComputeEnabled).toBe(defaultSettings.edgeComputeEnabled);
    expect(source.reads).toBe(2);
  });
});
