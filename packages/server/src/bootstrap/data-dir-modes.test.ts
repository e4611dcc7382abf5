import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";

/** Certificates: public by nature, the only files in DATA that others may read (the directories still keep them out). */
const publicFiles = new Set(["ca/ca.crt", "tls/server.crt"]);

function walk(dir: string, root = dir): Array<{ path: string; mode: number; directory: boolean }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    const found = { path: relative(root, path), mode: statSync(path).mode & 0o777, directory: entry.isDirectory() };
    return entry.isDirectory() ? [found, ...walk(path, root)] : [found];
  });
}

describe("what the server writes to --data", () => {
  let dir: TempDir;
  let server: RunningServer;

  beforeAll(async () => {
    dir = tempDir("data-modes");
    server = await startServer({ bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir: dir.file("data"), log: () => undefined });
    await server.store.audit.append({ kind: "login_failed", detail: {} });
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("keeps every file holding secrets or state 0600 and every directory 0700", () => {
    const entries = walk(dir.file("data"));
    // The precondition: the built-in CA, its state, the TLS key, the JWT secret, the database and the setup token are there.
    expect(entries.map((e) => e.path)).toEqual(expect.arrayContaining(["ca/ca.key", "ca/ca-state.json", "ca/issued", "tls/server.key", "secrets/jwt.key", "pier.db", "admin-setup-token"]));
    expect(statSync(dir.file("data")).mode & 0o777).toBe(0o700);
    const wrong = entries.filter((e) => (e.directory ? e.mode !== 0o700 : publicFiles.has(e.path) ? (e.mode & 0o022) !== 0 : e.mode !== 0o600));
    expect(wrong.map((e) => `${e.path} ${e.mode.toString(8)}`)).toEqual([]);
  });
});
