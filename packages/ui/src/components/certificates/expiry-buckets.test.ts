import { describe, expect, it } from "vitest";
import { i18n } from "../../i18n/index.ts";
import { bucketOf, fillBuckets, formatTimeLeft } from "./expiry-buckets.ts";

const now = Date.parse("2026-12-06T12:00:00Z");
const after = (ms: number) => new Date(now + ms).toISOString();
const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

describe("the expiry view's windows keep short-lived certificates legible", () => {
  it("puts a 90 s certificate and a 15 min one in < 1 hour, apart from 30-day ones (the old day-based chart showed all as 0 days)", () => {
    expect(bucketOf(after(90_000), now)).toBe("Hour");
    expect(bucketOf(after(15 * minute), now)).toBe("Hour");
    expect(bucketOf(after(12 * hour), now)).toBe("Day");
    expect(bucketOf(after(3 * day), now)).toBe("Week");
    expect(bucketOf(after(20 * day), now)).toBe("Month");
    expect(bucketOf(after(30 * day), now)).toBe("Later");
    expect(bucketOf(after(400 * day), now)).toBe("Later");
  });

  it("counts a certificate at its not-after instant, or past it, as expired", () => {
    expect(bucketOf(after(0), now)).toBe("Expired");
    expect(bucketOf(after(-day), now)).toBe("Expired");
    expect(bucketOf(after(1000), now)).toBe("Hour");
  });

  it("says time left in the unit that fits", () => {
    expect(formatTimeLeft(after(42_000), now)).toBe("42 s");
    expect(formatTimeLeft(after(13 * minute), now)).toBe("13 min");
    expect(formatTimeLeft(after(5 * hour), now)).toBe("5 h");
    expect(formatTimeLeft(after(12 * day), now)).toBe("12 days");
    expect(formatTimeLeft(after(-3 * minute), now)).toBe("expired 3 min ago");
  });

  it("says time left and names the windows in the UI's language (Simplified Chinese)", async () => {
    try {
      await i18n.changeLanguage("zh-CN");
      expect(formatTimeLeft(after(13 * minute), now)).toBe("13 分钟");
      expect(formatTimeLeft(after(12 * day), now)).toBe("12 天");
      expect(formatTimeLeft(after(-3 * minute), now)).toBe("3 分钟前已过期");
      expect(fillBuckets(undefined, [], now).map((bucket) => bucket.label)).toEqual(["已过期", "< 1 小时", "< 1 天", "< 7 天", "< 30 天", "更晚"]);
    } finally {
      await i18n.changeLanguage("en");
    }
    expect(fillBuckets(undefined, [], now).map((bucket) => bucket.label)).toEqual(["Expired", "< 1 hour", "< 1 day", "< 7 days", "< 30 days", "Later"]);
  });

  it("adds the named certificates to the server's counts, soonest first, in the six windows", () => {
    const buckets = fillBuckets({ Expired: 1, Hour: 3, Day: 0, Week: 0, Month: 2, Later: 0 }, [
      { key: "server", label: "Server", notAfter: after(25 * day) },
      { key: "ca", label: "CA", notAfter: after(3650 * day) },
      { key: "mtls", label: "mTLS", notAfter: after(10 * day) },
    ], now);
    expect(buckets.map((bucket) => [bucket.key, bucket.count])).toEqual([["Expired", 1], ["Hour", 3], ["Day", 0], ["Week", 0], ["Month", 4], ["Later", 1]]);
    expect(buckets.find((bucket) => bucket.key === "Month")?.named.map((entry) => entry.key)).toEqual(["mtls", "server"]);
  });
});
