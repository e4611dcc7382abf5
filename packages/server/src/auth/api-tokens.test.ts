import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { generateApiToken, hashApiToken, verifyApiToken } from "./api-tokens.ts";

describe("access tokens", () => {
  it("are pier_ and 32 random bytes in base64url, stored as their SHA-256", () => {
    const { token, tokenHash, prefix } = generateApiToken();
    expect(token).toMatch(/^pier_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice(5), "base64url")).toHaveLength(32);
    expect(tokenHash).toBe(createHash("sha256").update(token).digest("hex"));
    expect(hashApiToken(token)).toBe(tokenHash);
    expect(prefix).toBe(token.slice(0, 13));
    expect(generateApiToken().token).not.toBe(token);
  });

  it("verify by hash lookup in the store and record their use at most once a minute", async () => {
    await using dir = tempDir("tokens");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const user = await store.users.create({ username: "ci", passwordHash: "x" });
    const { token, tokenHash, prefix } = generateApiToken();
    const stored = await store.apiTokens.create({ userId: user.id, description: "pipeline", tokenHash, prefix, scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) });

    const t0 = new Date("2026-05-01T10:00:00.000Z");
    expect(await verifyApiToken(store.apiTokens, token, t0)).toEqual({ ...stored, lastUsedAt: t0 });
    expect((await store.apiTokens.findByHash(tokenHash))?.lastUsedAt).toEqual(t0);
    await verifyApiToken(store.apiTokens, token, new Date(t0.getTime() + 30_000));
    expect((await store.apiTokens.findByHash(tokenHash))?.lastUsedAt).toEqual(t0);
    const t2 = new Date(t0.getTime() + 61_000);
    await verifyApiToken(store.apiTokens, token, t2);
    expect((await store.apiTokens.findByHash(tokenHash))?.lastUsedAt).toEqual(t2);

    expect(await verifyApiToken(store.apiTokens, generateApiToken().token)).toBeNull();
    expect(await verifyApiToken(store.apiTokens, `${token}x`)).toBeNull();
    expect(await verifyApiToken(store.apiTokens, "")).toBeNull();
    expect(await verifyApiToken(store.apiTokens, tokenHash)).toBeNull(); // the stored hash is not a credential
    await store.apiTokens.delete(stored.id);
    expect(await verifyApiToken(store.apiTokens, token)).toBeNull();
  });
});
