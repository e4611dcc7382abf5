import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { SecretBox, maxSecretBytes, readSecretFile } from "./secret-box.ts";

const dir = mkdtempSync(join(tmpdir(), "pier-secret-box-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string | Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

function thrown(fn: () => unknown): ServerError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ServerError) return error;
    throw error;
  }
  throw new Error("expected a ServerError");
}

const secretA = Buffer.from("a".repeat(32));
const secretB = Buffer.from("b".repeat(32));

describe("readSecretFile", () => {
  it("reads a 0600 file of 32 bytes and more, without surrounding white space", () => {
    expect(readSecretFile(secretFile("ok", `  ${"k".repeat(44)}\n`)).toString()).toBe("k".repeat(44));
  });

  it("refuses fewer than 32 bytes after trimming, naming the flag and how to make one", () => {
    expect(readSecretFile(secretFile("exact", "x".repeat(32))).length).toBe(32);
    const error = thrown(() => readSecretFile(secretFile("short", `${"x".repeat(31)}\n\n   `)));
    expect(error.code).toBe("config_invalid");
    expect(error.message).toContain("holds 31 bytes after trimming; at least 32 are needed");
    expect(error.field).toBe("--secret-file");
    expect(error.fix).toContain("/dev/urandom");
  });

  it("refuses a file readable by group or others, like ssh", () => {
    expect(() => readSecretFile(secretFile("owner-only", "y".repeat(40), 0o400))).not.toThrow();
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      const error = thrown(() => readSecretFile(secretFile(`open-${mode.toString(8)}`, "y".repeat(40), mode)));
      expect(error.message).toContain(`accessible by group or others (mode 0${mode.toString(8)})`);
      expect(error.fix).toContain("chmod 600");
    }
  });

  it("refuses a file over the 4 KiB cap, a missing file and a directory", () => {
    expect(() => readSecretFile(secretFile("at-cap", "z".repeat(maxSecretBytes)))).not.toThrow();
    expect(thrown(() => readSecretFile(secretFile("big", "z".repeat(maxSecretBytes + 1)))).message).toContain(`at most ${maxSecretBytes} are allowed`);
    expect(thrown(() => readSecretFile(join(dir, "absent"))).message).toContain("ENOENT");
    expect(thrown(() => readSecretFile(dir)).message).toMatch(/not a regular file|accessible by group/);
  });
});

describe("SecretBox", () => {
  it("opens what it sealed, under the same name, and never stores the plaintext in the clear", () => {
    const box = new SecretBox(secretA);
    const plaintext = "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n";
    const sealed = box.seal("ca/ca.key", plaintext);
    expect(sealed[0]).toBe(1);
    expect(sealed.includes(Buffer.from("PRIVATE KEY"))).toBe(false);
    expect(box.open("ca/ca.key", sealed).toString()).toBe(plaintext);
    // A fresh IV each time.
    expect(box.seal("ca/ca.key", plaintext).equals(sealed)).toBe(false);
    // Another instance from the same secret (another replica) opens it too.
    expect(new SecretBox(Buffer.from(secretA)).open("ca/ca.key", sealed).toString()).toBe(plaintext);
  });

  it("says the secret file differs when another secret sealed it", () => {
    const sealed = new SecretBox(secretA).seal("secrets/jwt.key", "jwt");
    const error = thrown(() => new SecretBox(secretB).open("secrets/jwt.key", sealed));
    expect(error.code).toBe("config_invalid");
    expect(error.message).toBe("Cannot decrypt the cluster file secrets/jwt.key: this replica's --secret-file differs from the one that encrypted the cluster's files.");
  });

  it("refuses a tampered ciphertext, tag or IV, and a file moved under another name", () => {
    const box = new SecretBox(secretA);
    const sealed = box.seal("tls/server.key", "server key");
    expect(box.open("tls/server.key", sealed).toString()).toBe("server key");
    for (const at of [1 + 8, 1 + 8 + 12, sealed.length - 1]) {
      const altered = Buffer.from(sealed);
      altered[at] = (altered[at] ?? 0) ^ 1;
      expect(thrown(() => box.open("tls/server.key", altered)).message).toContain("fails its integrity check");
    }
    expect(thrown(() => box.open("secrets/jwt.key", sealed)).message).toBe(
      "The cluster file secrets/jwt.key in the database fails its integrity check: it was altered, damaged or stored under another name.",
    );
  });

  it("refuses an unknown version and a truncated value", () => {
    const box = new SecretBox(secretA);
    const sealed = box.seal("x", "y");
    const future = Buffer.from(sealed);
    future[0] = 2;
    expect(thrown(() => box.open("x", future)).message).toContain("not in a format this Pier reads (version 2");
    expect(thrown(() => box.open("x", sealed.subarray(0, 20))).message).toContain("not in a format");
  });
});
