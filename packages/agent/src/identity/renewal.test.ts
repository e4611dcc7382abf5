import { describe, expect, it } from "vitest";
import { maxRetryAfterMs, retryAfterMs } from "./retry-after.ts";
import { pushedRenewalTime, renewalTime } from "./renewal.ts";

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0 + ms);

describe("renewalTime", () => {
  const day = 86_400_000;
  const thirtyDays = { notBefore: at(0), notAfter: at(30 * day), receivedAt: at(0) };

  it("renews at two thirds of the lifetime without jitter, and at most 10 % of it later", () => {
    expect(renewalTime(thirtyDays, () => 0).getTime()).toBe(t0 + 20 * day);
    expect(renewalTime(thirtyDays, () => 1).getTime()).toBe(t0 + 23 * day);
    expect(renewalTime(thirtyDays, () => 0.5).getTime()).toBe(t0 + 21.5 * day);
  });

  it("spreads a fleet issued at the same moment over the jitter window", () => {
    const times = Array.from({ length: 1000 }, () => renewalTime(thirtyDays).getTime());
    expect(Math.min(...times)).toBeGreaterThanOrEqual(t0 + 20 * day);
    expect(Math.max(...times)).toBeLessThanOrEqual(t0 + 23 * day);
    // Not all in the same hour.
    expect(new Set(times.map((time) => Math.floor(time / 3600_000))).size).toBeGreaterThan(50);
  });

  it("counts a short lifetime from when the certificate was received, not from a back-dated notBefore", () => {
    // 60 s certificate, notBefore back-dated 5 minutes: ⅔ of notBefore→notAfter would be in the past.
    const received = { notBefore: at(-300_000), notAfter: at(60_000), receivedAt: at(0) };
    expect(renewalTime(received, () => 0).getTime()).toBe(t0 + 40_000);
    expect(renewalTime(received, () => 1).getTime()).toBe(t0 + 46_000);
  });

  it("never counts from before notBefore nor after notAfter", () => {
    expect(renewalTime({ notBefore: at(0), notAfter: at(90_000), receivedAt: at(-1000_000) }, () => 0).getTime()).toBe(t0 + 60_000);
    expect(renewalTime({ notBefore: at(0), notAfter: at(90_000), receivedAt: at(500_000) }, () => 0).getTime()).toBe(t0 + 90_000);
  });
});

describe("pushedRenewalTime", () => {
  it("picks a random moment within the server's window, never after the schedule", () => {
    expect(pushedRenewalTime(600, undefined, t0, () => 0).getTime()).toBe(t0);
    expect(pushedRenewalTime(600, undefined, t0, () => 0.5).getTime()).toBe(t0 + 300_000);
    expect(pushedRenewalTime(600, at(10_000), t0, () => 0.5).getTime()).toBe(t0 + 10_000);
    expect(pushedRenewalTime(0, at(10_000), t0, () => 0.9).getTime()).toBe(t0);
  });
});

describe("retryAfterMs", () => {
  it("reads seconds, an HTTP date, or details.retryAfterSeconds, capped at an hour", () => {
    expect(retryAfterMs("12", "")).toBe(12_000);
    expect(retryAfterMs(new Date(t0 + 30_000).toUTCString(), "", t0)).toBe(30_000);
    expect(retryAfterMs(undefined, JSON.stringify({ code: "too_many_requests", details: { retryAfterSeconds: 7 } }))).toBe(7000);
    expect(retryAfterMs("999999", "")).toBe(maxRetryAfterMs);
    expect(retryAfterMs(undefined, "not json")).toBeUndefined();
    expect(retryAfterMs("soon", "{}")).toBeUndefined();
  });
});
