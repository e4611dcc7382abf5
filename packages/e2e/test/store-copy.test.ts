import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PierApi, freeLoopbackPort, pier, startPierServer, startPostgres, tempDir } from "../src/index.ts";

const fingerprintLine = /pinned by agents\): (\S+)/;

describe("pier store copy", () => {
  it("moves a single server into PostgreSQL: a replica on the copy keeps the SPKI pin, the CA and the login, and a second copy is refused", async () => {
    await using dir = tempDir("store-copy");
    const pg = await startPostgres();
    try {
      const url = await pg.createDatabase("copied");
      const password = "correct horse battery staple";
      const passwordFile = dir.file("admin-password");
      writeFileSync(passwordFile, password, { mode: 0o600 });
      const secretFile = dir.file("secret");
      writeFileSync(secretFile, "x".repeat(44), { mode: 0o600 });

      // The single server (SQLite in --data): an administrator logs in, then it is stopped.
      const single = dir.file("single");
      let fingerprint: string;
      let jwt: string;
      {
        await using server = await startPierServer({ dataDir: single, args: ["--admin-password-file", passwordFile] });
        fingerprint = (await server.waitFor(fingerprintLine))[1] ?? "";
        const api = new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(join(single, "ca", "ca.crt")) });
        await api.login("admin", password);
        jwt = api.jwt ?? "";
      }
      expect(fingerprint).toMatch(/^[0-9a-f:]{20,}/i);
      expect(jwt).not.toBe("");

      const copy = pier(["store", "copy", "--from", join(single, "pier.db"), "--to", url, "--secret-file", secretFile]);
      expect(copy.stderr).toBe("");
      expect(copy.status).toBe(0);
      expect(copy.stdout).toMatch(/Copied .*users 1/);
      expect(copy.stdout).toMatch(/Stored 5 shared files, encrypted: ca\/ca-state\.json, ca\/ca\.crt, ca\/ca\.key, secrets\/jwt\.key, tls\/server\.key\./);

      // A replica on the copied database, with an empty --data of its own.
      const replicaData = dir.file("replica");
      const peerPort = await freeLoopbackPort();
      await using replica = await startPierServer({
        dataDir: replicaData,
        args: ["--database-url", url, "--secret-file", secretFile, "--peer-bind", `127.0.0.1:${peerPort}`, "--peer-address", `127.0.0.1:${peerPort}`],
      });
      expect((await replica.waitFor(fingerprintLine))[1]).toBe(fingerprint);
      expect(readFileSync(join(replicaData, "ca", "ca.crt"))).toEqual(readFileSync(join(single, "ca", "ca.crt")));
      const api = new PierApi(`https://localhost:${replica.httpsPort}`, { ca: readFileSync(join(replicaData, "ca", "ca.crt")) });
      expect((await api.call("GET", "/api/endpoints")).status).toBe(401);
      // The session the single server gave still works: same JWT secret, same user.
      expect((await api.call("GET", "/api/endpoints", undefined, { authorization: `Bearer ${jwt}` })).status).toBe(200);

      const again = pier(["store", "copy", "--from", join(single, "pier.db"), "--to", url, "--secret-file", secretFile]);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/the store copy failed: The target database already holds .*1 users.*nothing was copied\. Copy into a new, empty database/);
    } finally {
      await pg.stop();
    }
  });
});
