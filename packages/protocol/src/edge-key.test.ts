import { describe, expect, it } from "vitest";
import { decodeEdgeKey, edgeKeyLimits, encodeEdgeKey } from "./edge-key.ts";
import { isHeartbeatAlive } from "./heartbeat.ts";

const fingerprint = "ab".repeat(32);

describe("EDGE_KEY", () => {
  it("refuses to encode fields that would not decode back to themselves (found by fuzzing)", () => {
    const base = { apiUrl: "https://pier.example.com:9443/a%7Cb", tunnelAddress: "pier.example.com:8000", serverFingerprint: fingerprint, environmentId: 3 };
    // Precondition: the same key without the separator round-trips.
    expect(decodeEdgeKey(encodeEdgeKey(base))).toEqual(base);
    // Before: the "|" made a key with 5 or 6 fields (refused, or read as other fields), the lone
    // surrogate came back as U+FFFD.
    for (const key of [
      { ...base, apiUrl: "https://pier.example.com:9443/a|b" },
      { ...base, tunnelAddress: "pier|x.example.com:8000" },
      { ...base, tunnelAddress: "pier\ud800.example.com:8000" },
      { ...base, apiUrl: "https://pier.example.com:9443/\udc00" },
    ]) {
      expect(() => encodeEdgeKey(key), JSON.stringify(key)).toThrow(expect.objectContaining({ name: "ProtocolError", code: "edge_key_field_invalid" }));
    }
  });

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

describe("EDGE_KEY's 5th field: the secret of a per-environment key", () => {
  const enc = (s: string) => Buffer.from(s).toString("base64").replace(/=+$/, "");
  const secret = "q8Zr1pX0bY3kV7nM2sT5wA9cD4eF6gH8jK0lN1oP2rU";

  it("round-trips 5 fields; 4-field keys (fleet-wide, Portainer's, older Pier's) still decode without one", () => {
    const key = { apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: fingerprint, environmentId: 12, secret };
    const encoded = encodeEdgeKey(key);
    expect(Buffer.from(encoded, "base64").toString()).toBe(`https://pier.example.com:9443|pier.example.com:8000|${fingerprint}|12|${secret}`);
    expect(decodeEdgeKey(encoded)).toEqual(key);
    const portainerShape = decodeEdgeKey(enc(`https://pier.example.com:9443|pier.example.com:8000|${fingerprint}|12`));
    expect(portainerShape).toEqual({ apiUrl: "https://pier.example.com:9443", tunnelAddress: "pier.example.com:8000", serverFingerprint: fingerprint, environmentId: 12 });
    expect("secret" in portainerShape).toBe(false);
  });

  it("refuses a malformed 5th field, a secret on a fleet-wide key, and 6 fields", () => {
    const base = `https://x:9443|x:8000|${fingerprint}`;
    expect(() => decodeEdgeKey(enc(`${base}|3|`))).toThrow(/5th field .* must be 22 to 128 base64url characters/);
    expect(() => decodeEdgeKey(enc(`${base}|3|short`))).toThrow(/5th field/);
    expect(() => decodeEdgeKey(enc(`${base}|3|${secret.slice(0, 21)}`))).toThrow(/5th field/);
    expect(decodeEdgeKey(enc(`${base}|3|${secret.slice(0, 22)}`)).secret).toBe(secret.slice(0, 22));
    expect(() => decodeEdgeKey(enc(`${base}|3|${"a".repeat(129)}`))).toThrow(/5th field/);
    expect(decodeEdgeKey(enc(`${base}|3|${"a".repeat(128)}`)).secret).toHaveLength(128);
    expect(() => decodeEdgeKey(enc(`${base}|3|${secret.slice(0, 30)}+/`))).toThrow(/5th field/); // standard base64, not base64url
    expect(() => decodeEdgeKey(enc(`${base}|3|${secret.slice(0, 30)} x`))).toThrow(/5th field/);
    expect(() => decodeEdgeKey(enc(`${base}|0|${secret}`))).toThrow(/environment 0 \(fleet-wide\) but carries a 5th field/);
    expect(() => encodeEdgeKey({ apiUrl: "https://x:9443", tunnelAddress: "x:8000", serverFingerprint: fingerprint, environmentId: 0, secret })).toThrow(/fleet-wide/);
    expect(() => decodeEdgeKey(enc(`${base}|3|${secret}|more`))).toThrow(/4 fields .* or 5 .* found 6/);
  });

  it("limits the key and each field's length before using them", () => {
    const base = `https://x:9443|x:8000|${fingerprint}`;
    expect(() => decodeEdgeKey("A".repeat(edgeKeyLimits.encodedChars + 1))).toThrow(/at most 4096/);
    expect(() => decodeEdgeKey(enc(`https://${"a".repeat(edgeKeyLimits.apiUrlChars)}.example:9443|x:8000|${fingerprint}|0`))).toThrow(/API URL is \d+ characters long/);
    expect(() => decodeEdgeKey(enc(`https://x:9443|${"a".repeat(edgeKeyLimits.tunnelAddressChars)}:8000|${fingerprint}|0`))).toThrow(/tunnel address is \d+ characters long/);
    expect(() => decodeEdgeKey(enc(`${base}|${"9".repeat(16)}`))).toThrow(/at most 15 digits/);
    expect(decodeEdgeKey(enc(`${base}|${"9".repeat(15)}`)).environmentId).toBe(999_999_999_999_999);
    expect(() => decodeEdgeKey(enc(`${base}|1e3`))).toThrow(/whole number/);
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
