import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SessionDenyList, createSessionTokens } from "./session-tokens.ts";

const secret = randomBytes(32);
const user = { id: 7, username: "admin", role: "admin" } as const;

describe("session tokens with logout", () => {
  it("refuse a token once it is revoked, and only that token", async () => {
    const sessions = createSessionTokens(secret);
    const first = sessions.issue(user);
    const second = sessions.issue(user);
    expect(sessions.verify(first).userId).toBe(7);
    await sessions.revoke(first);
    expect(() => sessions.verify(first)).toThrow(expect.objectContaining({ code: "unauthorized", status: 401, message: "This session was logged out. Log in again." }));
    expect(sessions.verify(second).userId).toBe(7);
  });

  it("revoke tokens signed before token ids existed, by their signature", async () => {
    const sessions = createSessionTokens(secret);
    const iat = Math.floor(Date.now() / 1000);
    const legacy = signLegacy({ sub: "7", username: "admin", role: "admin", iat, exp: iat + 3600 });
    expect(sessions.verify(legacy).tokenId).toBe(legacy.split(".")[2]);
    await sessions.revoke(legacy);
    expect(() => sessions.verify(legacy)).toThrow(expect.objectContaining({ code: "unauthorized" }));
  });

  it("forget deny-list entries once their token has expired anyway", () => {
    const denied = new SessionDenyList();
    const now = Date.parse("2026-05-01T08:00:00Z");
    denied.add("a", new Date(now + 60_000), now);
    expect(denied.has("a", now + 60_000)).toBe(true); // within the 30 s of clock skew
    expect(denied.has("a", now + 91_000)).toBe(false);
    denied.add("b", new Date(now + 3_600_000), now + 91_000);
    expect(denied.size).toBe(1);
  });
});

/** A token as Pier signed them before `jti` existed. */
function signLegacy(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
  return `${input}.${createHmacSignature(input)}`;
}

function createHmacSignature(input: string): string {
  return createHmac("sha256", secret).update(input).digest("base64url");
}
