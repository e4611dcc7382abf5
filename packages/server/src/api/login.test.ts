import { scrypt } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../auth/index.ts";
import { type RunningServer, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type ApiClient, apiClient } from "./api-client.testkit.ts";

const password = "correct horse battery staple";

/**
 * `POST /api/auth` against a real server on loopback. Clients come from different addresses of
 * 127.0.0.0/8 (Linux routes the whole block to loopback), as attackers and the real admin would.
 */
describe("logins: limits that do not lock the admin out, the audit trail, hash upgrades", () => {
  let dir: TempDir;
  let server: RunningServer;
  let api: ApiClient;
  const adminAddress = "127.0.0.1";

  const login = (from: string, username: string, secret: string) => api.call("POST", "/api/auth", { body: { Username: username, Password: secret }, token: null, localAddress: from });

  beforeAll(async () => {
    dir = tempDir("login");
    writeFileSync(dir.file("admin-password"), password);
    server = await startServer({ bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir: dir.file("data"), adminPasswordFile: dir.file("admin-password"), log: () => undefined });
    api = apiClient(() => server.httpsAddress.port, CertificateAuthority.open(join(dir.file("data"), "ca")).certificatePem);
  });
  afterAll(async () => {
    await server.close();
    await dir[Symbol.asyncDispose]();
  });

  it("someone guessing admin's password elsewhere is throttled, a new address too, but admin's own address still logs in", async () => {
    expect((await login(adminAddress, "admin", password)).status).toBe(200);
    // Guesses for "admin" from other addresses until the per-user limit answers.
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof login>> | undefined;
    for (let i = 0; i < 10 && refused === undefined; i++) {
      const answer = await login(`127.0.0.${2 + (i % 2)}`, "admin", `guess number ${i}`);
      statuses.push(answer.status);
      if (answer.status === 429) refused = answer;
    }
    expect(statuses.slice(0, 3)).toEqual([422, 422, 422]);
    expect(refused?.json["message"]).toMatch(/^Too many login attempts for this user name from addresses it has not logged in from; try again in \d+ s\.$/);
    expect(Number(refused?.headers["retry-after"])).toBeGreaterThan(0);
    // The limit is real: even the right password from an address admin never used waits…
    expect((await login("127.0.0.9", "admin", password)).status).toBe(429);
    // …but admin, from where it logged in before, is not locked out.
    expect((await login(adminAddress, "admin", password)).status).toBe(200);
  });

  it("still limits each source address: a burst of 5, then 429 with Retry-After", async () => {
    // At once, as a script would: one after the other, six password checks on a loaded machine
    // outlasted the 12 s in which the address earns its next attempt (a CI-like run got six 422s).
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => login("127.0.0.4", `nobody-${i}`, "not a password at all")));
    expect(answers.map((answer) => answer.status).sort()).toEqual([422, 422, 422, 422, 422, 429]);
    expect(Number(answers.find((answer) => answer.status === 429)?.headers["retry-after"])).toBeGreaterThan(0);
    // Another address is another client.
    expect((await login("127.0.0.5", "nobody-0", "not a password at all")).status).toBe(422);
  });

  it("keeps known user names in the audit trail, and only a prefix and a tag of unknown ones (often a password)", async () => {
    const typedPassword = "Tr0ub4dor&3-typed-in-the-wrong-field";
    expect((await login("127.0.0.6", typedPassword, "admin")).status).toBe(422);
    // From admin's own address: the first test emptied the user name's bucket for other addresses.
    expect((await login(adminAddress, "admin", "a wrong password")).status).toBe(422);
    const failed = (await server.store.audit.list({ limit: 1000 })).filter((e) => e.kind === "login_failed");
    const [known, unknown] = failed; // newest first
    expect(known).toMatchObject({ sourceAddress: adminAddress, detail: { username: "admin" } });
    expect(unknown).toMatchObject({ sourceAddress: "127.0.0.6", detail: { username: "Tr…", unknownUser: true, usernameTag: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown } });
    expect(JSON.stringify(failed)).not.toContain("Tr0ub4dor");
  });

  it("re-hashes a password stored with older scrypt parameters at the next successful login", async () => {
    const salt = Buffer.alloc(16, 3);
    // As the server before issue 16 stored it: N=2^15.
    const key = await new Promise<Buffer>((resolve, reject) => scrypt(password, salt, 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k))));
    const admin = await server.store.users.getByUsername("admin");
    expect(admin).not.toBeNull();
    await server.store.users.setPasswordHash(admin?.id ?? 0, `scrypt$32768$8$1$${salt.toString("base64")}$${key.toString("base64")}`);
    expect((await login(adminAddress, "admin", password)).status).toBe(200);
    const upgraded = (await server.store.users.getByUsername("admin"))?.passwordHash ?? "";
    expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(await verifyPassword(password, upgraded)).toBe(true);
    expect((await login(adminAddress, "admin", password)).status).toBe(200);
  });
});
