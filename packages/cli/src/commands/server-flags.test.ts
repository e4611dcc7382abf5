import { describe, expect, it } from "vitest";
import { deviceCertificateLifetime, proxyProtocolSources, serverLimits } from "./server.ts";

describe("pier server --device-cert-lifetime", () => {
  it("defaults to 30d, reads the flag before PIER_DEVICE_CERT_LIFETIME, and takes 60s and 397d", () => {
    expect(deviceCertificateLifetime(undefined, {})).toBe(30 * 86_400);
    expect(deviceCertificateLifetime(undefined, { PIER_DEVICE_CERT_LIFETIME: "12h" })).toBe(43_200);
    expect(deviceCertificateLifetime("15m", { PIER_DEVICE_CERT_LIFETIME: "12h" })).toBe(900);
    expect(deviceCertificateLifetime("60s", {})).toBe(60);
    expect(deviceCertificateLifetime("397d", {})).toBe(397 * 86_400);
  });

  it("refuses lifetimes outside 60s…397d and unreadable ones, naming the flag or variable", () => {
    expect(() => deviceCertificateLifetime("59s", {})).toThrow(expect.objectContaining({ code: "usage", message: '--device-cert-lifetime must be between 60s and 397d (60 to 34300800 seconds), got "59s".' }));
    expect(() => deviceCertificateLifetime("398d", {})).toThrow(/--device-cert-lifetime must be between 60s and 397d .*got "398d"/);
    expect(() => deviceCertificateLifetime("30", {})).toThrow(/^--device-cert-lifetime must be a whole number followed by s, m, h or d/);
    expect(() => deviceCertificateLifetime("30", {})).toThrow(expect.objectContaining({ code: "usage" }));
    expect(() => deviceCertificateLifetime(undefined, { PIER_DEVICE_CERT_LIFETIME: "1y" })).toThrow(/^PIER_DEVICE_CERT_LIFETIME must be a whole number followed by s, m, h or d/);
  });

  it("goes down to 10s, no further, only with the test-only PIER_SERVER_TEST_SHORT_CERTS=1, and refuses other values of it", () => {
    const tests = { PIER_SERVER_TEST_SHORT_CERTS: "1" };
    expect(deviceCertificateLifetime("30s", tests)).toBe(30);
    expect(deviceCertificateLifetime("10s", tests)).toBe(10);
    expect(() => deviceCertificateLifetime("9s", tests)).toThrow(expect.objectContaining({ code: "usage", message: '--device-cert-lifetime must be between 10s and 397d (10 to 34300800 seconds), got "9s".' }));
    expect(() => deviceCertificateLifetime("30s", {})).toThrow(/must be between 60s and 397d/);
    expect(() => deviceCertificateLifetime("30s", { PIER_SERVER_TEST_SHORT_CERTS: "yes" })).toThrow(expect.objectContaining({ code: "usage", message: 'PIER_SERVER_TEST_SHORT_CERTS (a test-only setting) must be 1 or unset, got "yes".' }));
  });
});

describe("pier server --renewal-rate", () => {
  it("sets the renewals issued per second; absent, the server's default applies", () => {
    expect(serverLimits({ "renewal-rate": "20" }).renewalsPerSecond).toBe(20);
    expect(serverLimits({}).renewalsPerSecond).toBeUndefined();
  });

  it("refuses 0 and anything but a whole number, naming the flag", () => {
    expect(() => serverLimits({ "renewal-rate": "0" })).toThrow(expect.objectContaining({ code: "usage", message: "--renewal-rate needs a whole number of at least 1, got 0." }));
    expect(() => serverLimits({ "renewal-rate": "fast" })).toThrow(/^--renewal-rate needs a whole number, got "fast"/);
  });
});

describe("pier server --proxy-protocol-from", () => {
  it("is off by default, and reads the flag before PIER_PROXY_PROTOCOL_FROM", () => {
    expect(proxyProtocolSources(undefined, {})).toBeUndefined();
    expect(proxyProtocolSources(undefined, { PIER_PROXY_PROTOCOL_FROM: "" })).toBeUndefined();
    expect(proxyProtocolSources(undefined, { PIER_PROXY_PROTOCOL_FROM: "10.0.0.5" })).toBe("10.0.0.5");
    expect(proxyProtocolSources("10.77.0.0/24,fd00::/64", { PIER_PROXY_PROTOCOL_FROM: "10.0.0.5" })).toBe("10.77.0.0/24,fd00::/64");
  });

  it("refuses what is not an address or CIDR block as a usage error naming the flag or variable", () => {
    expect(() => proxyProtocolSources("10.0.0.0/33", {})).toThrow(expect.objectContaining({ code: "usage", message: expect.stringContaining('--proxy-protocol-from: "10.0.0.0/33" is not an IP address or CIDR block.') as unknown }));
    expect(() => proxyProtocolSources(undefined, { PIER_PROXY_PROTOCOL_FROM: "balancer.example" })).toThrow(/^PIER_PROXY_PROTOCOL_FROM: "balancer.example" is not an IP address or CIDR block/);
  });
});

describe("pier server --max-concurrent-handshakes, --max-concurrent-hellos", () => {
  it("set the admission limits; absent, the server's defaults (64 and 32) apply", () => {
    expect(serverLimits({ "max-concurrent-handshakes": "128", "max-concurrent-hellos": "8" }).admission).toEqual({ maxConcurrentHandshakes: 128, maxConcurrentHellos: 8 });
    expect(serverLimits({}).admission).toEqual({});
    expect(serverLimits({ "max-concurrent-hellos": "10000" }).admission).toEqual({ maxConcurrentHellos: 10_000 });
  });

  it("refuse 0, more than 10000 and anything but a whole number, naming the flag", () => {
    expect(() => serverLimits({ "max-concurrent-handshakes": "0" })).toThrow(expect.objectContaining({ code: "usage", message: "--max-concurrent-handshakes needs a whole number of at least 1, got 0." }));
    expect(() => serverLimits({ "max-concurrent-hellos": "10001" })).toThrow(expect.objectContaining({ code: "usage", message: "--max-concurrent-hellos needs a whole number from 1 to 10000, got 10001." }));
    expect(() => serverLimits({ "max-concurrent-hellos": "-3" })).toThrow(/^--max-concurrent-hellos needs a whole number, got "-3"/);
    expect(() => serverLimits({ "max-concurrent-handshakes": "1e3" })).toThrow(/^--max-concurrent-handshakes needs a whole number, got "1e3"/);
  });
});
