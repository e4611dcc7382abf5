import { describe, expect, it } from "vitest";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { postgresBin, startPostgres } from "../src/index.ts";

/**
 * The PostgreSQL the store's contract suite and the replicas tests run on (packages/e2e/src/postgres.ts):
 * what it promises — the postgres user, a private directory, loopback only, the settings the
 * tests rely on, a restart that keeps port and data, a stop that leaves nothing behind.
 */
describe("startPostgres", () => {
  it("runs as postgres in a 0700 directory on loopback, restarts on the same port and data, and stop removes it", async () => {
    const pg = await startPostgres();
    let socketDir: string | undefined;
    try {
      expect(pg.adminUrl).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${pg.port}/postgres$`));
      const settings = pg.query("postgres", "SELECT current_setting('listen_addresses'), current_setting('max_connections'), current_setting('fsync'), current_user");
      expect(settings).toEqual([["127.0.0.1", "400", "off", "postgres"]]);
      const dir = pg.query("postgres", "SELECT current_setting('unix_socket_directories')")[0]?.[0] ?? "";
      socketDir = dir;
      expect(dir).toMatch(/pier-postgres-/);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      if (process.getuid?.() === 0) {
        const postgresUid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
        expect(statSync(dir).uid).toBe(postgresUid);
        // The server wrote its pid file as the user it runs as.
        expect(statSync(join(dir, "data", "postmaster.pid")).uid).toBe(postgresUid);
      }
      // Over TCP the password is required: psql without one is refused.
      const anonymous = spawnSync(join(postgresBin, "psql"), ["-h", "127.0.0.1", "-p", String(pg.port), "-U", "postgres", "-w", "-c", "SELECT 1"], { encoding: "utf8", env: { ...process.env, PGPASSWORD: "" } });
      expect(anonymous.status).not.toBe(0);
      expect(anonymous.stderr).toMatch(/password/);

      const url = await pg.createDatabase("fixture_check");
      expect(url).toBe(pg.adminUrl.replace(/\/postgres$/, "/fixture_check"));
      await expect(pg.createDatabase("Bad-Name")).rejects.toThrow(/lower-case letters/);
      pg.query("fixture_check", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the restart')");

      await pg.restart(200);
      expect(pg.query("fixture_check", "SELECT v FROM kept")).toEqual([["before the restart"]]);
      expect(pg.query("postgres", "SELECT current_setting('port')")).toEqual([[String(pg.port)]]);
      expect(pg.output()).toMatch(/database system is shut down[\s\S]*database system is ready to accept connections/);
    } finally {
      await pg.stop();
    }
    expect(socketDir).toBeDefined();
    expect(existsSync(socketDir ?? "")).toBe(false);
    expect(existsSync(dirname(socketDir ?? "/"))).toBe(true);
  });
});
