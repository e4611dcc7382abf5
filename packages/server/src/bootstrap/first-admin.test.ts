import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { type RunningServer, type ServerConfig, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";

const password = "correct horse battery staple";

/** A real server on loopback with the built-in CA, its log kept, and a client trusting it. */
async function serve(dataDir: string, extra: Partial<ServerConfig> = {}): Promise<{ server: RunningServer; api: ApiClient; logs: string[] }> {
  const logs: string[] = [];
  const server = await startServer({ bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir, log: (level, message) => logs.push(`${level}: ${message}`), ...extra });
  const api = apiClient(() => server.httpsAddress.port, CertificateAuthority.open(join(dataDir, "ca")).certificatePem);
  return { server, api, logs };
}

describe("the first administrator needs the one-time setup token", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  let logs: string[];
  const tokenPath = () => dir.file("data/admin-setup-token");

  beforeAll(async () => {
    dir = tempDir("first-admin");
    ({ server, api, logs } = await serve(dir.file("data")));
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("writes the token 0600 to DATA/admin-setup-token and logs where it is, never the token", async () => {
    const token = readFileSync(tokenPath(), "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(tokenPath()).mode & 0o777).toBe(0o600);
    expect(logs).toContainEqual(expect.stringContaining(`setup token in ${tokenPath()} (mode 0600; the token itself is never logged)`));
    expect(logs.join("\n")).not.toContain(token);
    const status = await api.call("GET", "/api/system/status", { token: null });
    expect(status.json).toMatchObject({ AdminExists: false, SetupTokenRequired: true });
    const check = await api.call("GET", "/api/users/admin/check", { token: null });
    expect(check.status).toBe(404);
    expect(check.json["message"]).toMatch(/setup token/);
  });

  it("refuses to create it without the token or with another one (403 naming the file), or with an oversized one (400)", async () => {
    const token = readFileSync(tokenPath(), "utf8").trim();
    const body = { Username: "admin", Password: password };
    const without = await api.call("POST", "/api/users/admin/init", { body, token: null });
    expect(without.status).toBe(403);
    expect(without.json).toMatchObject({
      code: "forbidden",
      message: "A setup token is required to create the first administrator: it is in admin-setup-token in the server's data directory (--data; /data in the pier-server image).",
      field: "SetupToken",
      fix: expect.stringContaining(`kubectl exec deploy/pier -- node -p "fs.readFileSync('/data/admin-setup-token','utf8')"`) as unknown,
    });
    const wrong = await api.call("POST", "/api/users/admin/init", { body, token: null, headers: { "X-Pier-Setup-Token": `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}` } });
    expect(wrong.status).toBe(403);
    expect(wrong.json["message"]).toMatch(/^The setup token is not the one in admin-setup-token/);
    expect((await api.call("POST", "/api/users/admin/init", { body: { ...body, SetupToken: "x".repeat(257) }, token: null })).status).toBe(400);
    // Nothing was created, and the token is still there for the operator.
    expect(await server.store.users.count()).toBe(0);
    expect(existsSync(tokenPath())).toBe(true);
  });

  it("creates exactly one administrator from two concurrent requests with the token (header and body), then deletes the token", async () => {
    const token = readFileSync(tokenPath(), "utf8").trim();
    const [byHeader, byBody] = await Promise.all([
      api.call("POST", "/api/users/admin/init", { body: { Username: "admin", Password: password }, token: null, headers: { "X-Pier-Setup-Token": token } }),
      api.call("POST", "/api/users/admin/init", { body: { Username: "root", Password: password, SetupToken: token }, token: null }),
    ]);
    expect([byHeader.status, byBody.status].sort()).toEqual([200, 409]);
    expect(await server.store.users.count()).toBe(1);
    expect(existsSync(tokenPath())).toBe(false);
    expect((await api.call("GET", "/api/system/status", { token: null })).json).toMatchObject({ AdminExists: true, SetupTokenRequired: false });
    const again = await api.call("POST", "/api/users/admin/init", { body: { Username: "other", Password: password }, token: null, headers: { "X-Pier-Setup-Token": token } });
    expect(again.status).toBe(409);
    const winner = byHeader.status === 200 ? "admin" : "root";
    await api.login(winner, password);
  });

  it("deletes a token file left over when it starts and an administrator exists", async () => {
    await server.close();
    writeFileSync(tokenPath(), "stale-token-from-an-earlier-start\n", { mode: 0o600 });
    ({ server, api, logs } = await serve(dir.file("data")));
    expect(existsSync(tokenPath())).toBe(false);
    expect(logs.join("\n")).not.toMatch(/setup token/);
  });
});

describe("with --admin-password-file", () => {
  it("creates admin from the file and never writes a setup token (a stale one is removed)", async () => {
    await using dir = tempDir("first-admin-file");
    writeFileSync(dir.file("admin-password"), `${password}\n`);
    mkdirSync(dir.file("data"), { mode: 0o700 });
    writeFileSync(dir.file("data/admin-setup-token"), "left by an earlier start without an administrator\n", { mode: 0o600 });
    const { server, api, logs } = await serve(dir.file("data"), { adminPasswordFile: dir.file("admin-password") });
    try {
      expect(logs).toContain("info: created user admin from --admin-password-file");
      expect(existsSync(dir.file("data/admin-setup-token"))).toBe(false);
      expect((await api.call("GET", "/api/system/status", { token: null })).json).toMatchObject({ AdminExists: true, SetupTokenRequired: false });
      await api.login("admin", password);
    } finally {
      await server.close();
    }
  });
});
