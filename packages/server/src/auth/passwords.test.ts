import { describe, expect, it } from "vitest";
import { scrypt } from "node:crypto";
import { checkPasswordPolicy, derivationsInFlight, hashPassword, maximumConcurrentDerivations, passwordHashNeedsUpgrade, scryptParameters, verifyPassword } from "./passwords.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

describe("password hashing", () => {
  it("hashes with scrypt N=2^17 r=8 p=1, a 16-byte salt and a 64-byte key, the parameters in the hash", async () => {
    const encoded = await hashPassword("correct horse battery staple");
    const [scheme, N, r, p, salt, key] = encoded.split("$");
    expect([scheme, N, r, p]).toEqual(["scrypt", "131072", "8", "1"]);
    expect(passwordHashNeedsUpgrade(encoded)).toBe(false);
    expect(Buffer.from(salt ?? "", "base64")).toHaveLength(scryptParameters.saltLength);
    expect(Buffer.from(key ?? "", "base64")).toHaveLength(scryptParameters.keyLength);
    expect(await hashPassword("correct horse battery staple")).not.toBe(encoded); // fresh salt each time
  });

  it("accepts the right password and refuses others", async () => {
    const encoded = await hashPassword("correct horse battery staple");
    expect(await verifyPassword("correct horse battery staple", encoded)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", encoded)).toBe(false);
    expect(await verifyPassword("Correct horse battery staple", encoded)).toBe(false);
    expect(await verifyPassword("", encoded)).toBe(false);
  });

  it("compares the whole key: a hash differing only in its last byte does not match", async () => {
    const encoded = await hashPassword("correct horse battery staple");
    const parts = encoded.split("$");
    const key = Buffer.from(parts[5] ?? "", "base64");
    key[key.length - 1] = (key.at(-1) ?? 0) ^ 1;
    parts[5] = key.toString("base64");
    expect(await verifyPassword("correct horse battery staple", parts.join("$"))).toBe(false);
  });

  it("verifies a hash made with older parameters with its own, and says it needs an upgrade", async () => {
    // Made as the code before issue 16 did (N=2^15), outside hashPassword.
    const salt = Buffer.alloc(16, 7);
    const key = await new Promise<Buffer>((resolve, reject) => scrypt("correct horse battery staple", salt, 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k))));
    const old = `scrypt$32768$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
    expect(await verifyPassword("correct horse battery staple", old)).toBe(true);
    expect(await verifyPassword("correct horse battery stapler", old)).toBe(false);
    expect(passwordHashNeedsUpgrade(old)).toBe(true);
  });

  it(`runs at most ${maximumConcurrentDerivations} derivations at once (128 MiB each), the others wait their turn`, async () => {
    const seen: Array<{ running: number; waiting: number }> = [];
    const timer = setInterval(() => seen.push(derivationsInFlight()), 5);
    const hashes = await Promise.all(Array.from({ length: 4 }, () => hashPassword("correct horse battery staple")));
    clearInterval(timer);
    expect(new Set(hashes).size).toBe(4);
    expect(Math.max(...seen.map((s) => s.running))).toBe(maximumConcurrentDerivations);
    expect(Math.max(...seen.map((s) => s.waiting))).toBe(4 - maximumConcurrentDerivations);
    expect(derivationsInFlight()).toEqual({ running: 0, waiting: 0 });
  });

  it("treats composed and decomposed accents as the same password (NFKC)", async () => {
    const encoded = await hashPassword("caf\u00e9 au lait, s'il vous pla\u00eet");
    expect(await verifyPassword("cafe\u0301 au lait, s'il vous plai\u0302t", encoded)).toBe(true);
  });

  it("does not block the event loop while hashing", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await hashPassword("correct horse battery staple");
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it("does the same work for a user that does not exist, and answers false", async () => {
    const encoded = await hashPassword("correct horse battery staple");
    const real: number[] = [];
    const absent: number[] = [];
    for (let i = 0; i < 3; i++) {
      real.push(await elapsed(() => verifyPassword("wrong password here", encoded)));
      absent.push(await elapsed(() => verifyPassword("wrong password here", null)));
    }
    expect(await verifyPassword("", null)).toBe(false);
    // Coarse on purpose (shared CI machines): the absent-user path must really run scrypt.
    expect(median(absent)).toBeGreaterThan(median(real) * 0.3);
  });

  it("refuses a malformed or dangerous stored hash as a server problem", async () => {
    for (const bad of ["", "bcrypt$2b$10$abc", "scrypt$32768$8$1$c2FsdA==", "scrypt$1000$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5", `scrypt$${2 ** 24}$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5`, "scrypt$32768$8$1$!!$??"]) {
      await expect(verifyPassword("whatever password", bad)).rejects.toMatchObject({ code: "internal", message: "A stored password hash is malformed; reset that user's password." });
    }
  });
});

describe("password policy", () => {
  it("wants at least 12 characters, counted as the user sees them", () => {
    expect(checkPasswordPolicy("short")).toBe("The password must be at least 12 characters long (it has 5).");
    expect(checkPasswordPolicy("elevenchars")).toMatch(/at least 12/);
    expect(checkPasswordPolicy("twelve chars")).toBeNull();
    // 6 emoji are 12 UTF-16 code units but 6 characters.
    expect(checkPasswordPolicy("🔒🔒🔒🔒🔒🔒")).toMatch(/it has 6/);
    expect(checkPasswordPolicy("x".repeat(1025))).toMatch(/at most 1024/);
  });
});
