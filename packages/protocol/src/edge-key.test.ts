import { describe, expect, it } from "vitest";
import { decodeEdgeKey, encodeEdgeKey } from "./edge-key.ts";
import { isHeartbeatAlive } from "./heartbeat.ts";

const fingerprint = "ab".repeat(32);

describe("EDGE_KEY", () => {
  it("keeps Portainer's layout: unpadded base64 of url|tunnel|fingerprint|id", () => {
    const key = encodeEdgeKey({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: fingerprint, environmentId: 0 });
    expect(key).not.toMatch(/=/);
    expect(Buffer.from(key, "base64").toString()).toBe(`https://pier.example.com:9443|pier.example.com:8000|${fingerprint}|0`);
    expect(decodeEdgeKey(key)).toEqual({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: fingerprint, environmentId: 0 });
  });

  it("accepts padded keys and colon-separated fingerprints", () => {
    const text = `https://10.0.0.1:9443|[::1]:8000|${"AB:".repeat(31)}AB|7`;
    expect(decodeEdgeKey(Buffer.from(text).toString("base64")).environmentId).toBe(7);
  });

  it("names the field that is wrong", () => {
    const enc = (s: string) => Buffer.from(s).toString("base64").replace(/=+$/, "");
    expect(() => decodeEdgeKey("not base64!")).toThrow(/not base64/);
    expect(() => decodeEdgeKey(enc("a|b|c"))).toThrow(/4 fields .* found 3/);
    expect(() => decodeEdgeKey(enc(`http://x:9443|x:8000|${fingerprint}|0`))).toThrow(/must be an https:\/\/ URL/);
    expect(() => decodeEdgeKey(enc(`https://x:9443|x|${fingerprint}|0`))).toThrow(/tunnel address "x" must be host:port/);
    expect(() => decodeEdgeKey(enc("https://x:9443|x:8000|abc|0"))).toThrow(/fingerprint must be a SHA-256/);
    expect(() => decodeEdgeKey(enc(`https://x:9443|x:8000|${fingerprint}|-1`))).toThrow(/environment id must be a whole number/);
  });
});

describe("heartbeat", () => {
  it("is alive up to 2 × interval + 20 s after the last check-in", () => {
    const now = 1_000_000;
    expect(isHeartbeatAlive(now - 30_000, 5, now)).toBe(true);
    expect(isHeartbeatAlive(now - 30_001, 5, now)).toBe(false);
    expect(isHeartbeatAlive(now - 219_000, 100, now)).toBe(true);
    expect(isHeartbeatAlive(null, 5, now)).toBe(false);
  });
});
