import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { loadOrCreateSecret, signSessionToken, verifySessionToken } from "./jwt.ts";

const secret = randomBytes(32);
const user = { userId: 7, username: "admin", role: "admin" } as const;
const issued = new Date("2026-05-01T08:00:00.000Z");
const later = (seconds: number) => new Date(issued.getTime() + seconds * 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const invalid = { name: "ServerError", code: "unauthorized", status: 401, message: "The session token is invalid. Log in again." };

describe("session tokens", () => {
  it("sign and verify an HS256 token carrying the user, valid for 8 hours", () => {
    const token = signSessionToken(user, secret, { now: issued });
    const [header, payload] = token.split(".");
    expect(JSON.parse(Buffer.from(header ?? "", "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<string, unknown>;
    expect(claims).toEqual({ sub: "7", username: "admin", role: "admin", iat: issued.getTime() / 1000, exp: issued.getTime() / 1000 + 8 * 3600, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) as unknown });
    expect(verifySessionToken(token, secret, { now: later(60) })).toEqual({ userId: 7, username: "admin", role: "admin", issuedAt: issued, expiresAt: later(8 * 3600), tokenId: claims["jti"] });
    // Every token gets its own id, even for the same user in the same second.
    expect(verifySessionToken(signSessionToken(user, secret, { now: issued }), secret, { now: later(60) }).tokenId).not.toBe(claims["jti"]);
  });

  it("expire after their lifetime, with 30 s of clock skew", () => {
    const token = signSessionToken(user, secret, { now: issued, lifetimeSeconds: 600 });
    expect(verifySessionToken(token, secret, { now: later(600 + 29) }).userId).toBe(7);
    expect(() => verifySessionToken(token, secret, { now: later(600 + 31) })).toThrow(expect.objectContaining({ code: "unauthorized", message: "The session has expired. Log in again." }));
    // Issued in the future beyond the skew: refused.
    expect(() => verifySessionToken(token, secret, { now: later(-31) })).toThrow(expect.objectContaining(invalid));
    expect(verifySessionToken(token, secret, { now: later(-29) }).userId).toBe(7);
  });

  it("refuse a tampered payload or signature, and another secret", () => {
    const token = signSessionToken(user, secret, { now: issued });
    const [header, , signature] = token.split(".");
    const forged = `${header}.${b64({ sub: "1", username: "admin", role: "admin", iat: 0, exp: 4102444800 })}.${signature}`;
    expect(() => verifySessionToken(forged, secret, { now: later(1) })).toThrow(expect.objectContaining(invalid));
    for (const last of ["A", "B", "C", "D"]) {
      const altered = token.slice(0, -1) + last;
      if (altered !== token) expect(() => verifySessionToken(altered, secret, { now: later(1) })).toThrow(expect.objectContaining(invalid));
    }
    expect(() => verifySessionToken(token, randomBytes(32), { now: later(1) })).toThrow(expect.objectContaining(invalid));
  });

  it('refuse alg "none" and every algorithm but HS256', () => {
    const claims = b64({ sub: "7", username: "admin", role: "admin", iat: issued.getTime() / 1000, exp: issued.getTime() / 1000 + 3600 });
    const valid = signSessionToken(user, secret, { now: issued }).split(".")[2] ?? "";
    for (const alg of ["none", "None", "HS512", "RS256", "hs256"]) {
      const header = b64({ alg, typ: "JWT" });
      expect(() => verifySessionToken(`${header}.${claims}.`, secret, { now: later(1) })).toThrow(expect.objectContaining(invalid));
      expect(() => verifySessionToken(`${header}.${claims}.${valid}`, secret, { now: later(1) })).toThrow(expect.objectContaining(invalid));
    }
  });

  it("refuse malformed tokens with the same message", () => {
    const header = b64({ alg: "HS256", typ: "JWT" });
    for (const token of ["", "abc", "a.b", "a.b.c.d", "a..c", `${header}.not json.sig`, `${header}.${b64([1, 2])}.sig`, "é.é.é"]) {
      expect(() => verifySessionToken(token, secret)).toThrow(expect.objectContaining(invalid));
    }
  });

  it("refuse a signing secret shorter than 32 bytes", () => {
    expect(() => signSessionToken(user, randomBytes(16))).toThrow(/at least 32 bytes/);
  });
});

describe("loadOrCreateSecret", () => {
  it("creates 32 random bytes, owner-only, in a new directory, and reads them back after", async () => {
    await using dir = tempDir("jwt");
    const path = dir.file("secrets/jwt.key");
    const created = loadOrCreateSecret(path);
    expect(created).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir.file("secrets")).mode & 0o777).toBe(0o700);
    expect(loadOrCreateSecret(path).equals(created)).toBe(true);
    expect(readdirSync(dir.file("secrets"))).toEqual(["jwt.key"]); // no temporary file left behind
  });

  it("narrows a readable secret to 0600 and refuses one that is too short", async () => {
    await using dir = tempDir("jwt");
    const path = dir.file("jwt.key");
    writeFileSync(path, randomBytes(48), { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(loadOrCreateSecret(path)).toHaveLength(48);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    writeFileSync(path, "short");
    expect(() => loadOrCreateSecret(path)).toThrow(expect.objectContaining({ code: "config_invalid" }));
    expect(() => loadOrCreateSecret(path)).toThrow(/holds 5 bytes; it needs at least 32/);
  });
});
