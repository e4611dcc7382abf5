import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { errorBody } from "../http/error-response.ts";
import { DiskFullNotice, diskFullError, isDiskFull } from "./disk-full.ts";
import { SqliteStore } from "./sqlite-store.ts";

const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted) {
    spawnSync("umount", ["--lazy", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Writes `path` until the disk refuses one more byte. */
function fillTo(path: string): void {
  const fd = openSync(path, "w");
  for (let size = 1 << 20; size >= 1; size = Math.floor(size / 2)) {
    try {
      while (writeSync(fd, Buffer.alloc(size)) === size);
    } catch {
      // ENOSPC: on to smaller pieces
    }
  }
  closeSync(fd);
}

describe("a full disk", () => {
  it("is recognised from SQLite, the file system and PostgreSQL, also as a cause", () => {
    expect(isDiskFull(Object.assign(new Error("database or disk is full"), { errcode: 13 }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error("x"), { code: "ENOSPC" }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error("x"), { code: "EDQUOT" }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error("could not extend file"), { code: "53100" }))).toBe(true);
    expect(isDiskFull(new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "ENOSPC" }) }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error("locked"), { errcode: 5 }))).toBe(false);
    expect(isDiskFull(new ServerError("unavailable", "x"))).toBe(false);
  });

  it("is one answer on the wire: 507 disk_full naming the disk and saying what to do, also for a file write's ENOSPC", () => {
    const answer = errorBody(diskFullError({ dataDir: "/var/lib/pier" }));
    expect(answer.status).toBe(507);
    expect(answer.internal).toBe(false);
    expect(answer.body).toMatchObject({ code: "disk_full", details: { disk: "/var/lib/pier" } });
    expect(answer.body.message).toContain("The disk holding Pier's data directory /var/lib/pier is full");
    expect(answer.body.fix).toContain("df -h /var/lib/pier");
    expect(errorBody(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }))).toMatchObject({ status: 507, body: { code: "disk_full" } });
    expect(errorBody(diskFullError({ postgres: "db:5432/pier" })).body.message).toContain("PostgreSQL's disk is full (db:5432/pier, SQLSTATE 53100)");
  });

  it("is said once however many writes fail, and once when there is room again", async () => {
    const lines: string[] = [];
    let free = 0;
    const notice = new DiskFullNotice({ log: (level, message) => lines.push(`${level} ${message}`), freeBytes: () => free, pollMs: 10 });
    for (let i = 0; i < 50; i++) notice.report(diskFullError({ dataDir: "/data" }));
    notice.report(new ServerError("conflict", "not a full disk"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error The disk holding Pier's data directory \/data is full/);
    expect(notice.full).toBe(true);
    free = 10 * 1024 * 1024;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(notice.full).toBe(false);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^info the disk holding \/data has room again \(10240 KiB free\)/);
    notice.close();
  });

  it.skipIf(process.getuid?.() !== 0)("refuses the store's writes as disk_full naming the data directory (not 'cannot rollback'), keeps reading, and writes again once there is room (tmpfs, root)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "pier-store-disk-full-"));
    mounted.push(dataDir);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m", "pier-store-disk-full", dataDir]).status).toBe(0);
    const told: ServerError[] = [];
    const store = await SqliteStore.open(join(dataDir, "pier.db"), { onDiskFull: (error) => told.push(error) });
    try {
      await store.environments.create({ name: "before", type: "edge-agent" });
      fillTo(join(dataDir, "ballast"));
      // The WAL's pages already on disk take a few writes; the next ones need room.
      let refused: unknown;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        await store.audit.append({ kind: "chaos", detail: { i, padding: "x".repeat(2000) } }).catch((error: unknown) => (refused = error));
      }
      // Before the fix: store_failed "cannot rollback - no transaction is active" (SQLite had ended the transaction itself).
      expect(refused).toMatchObject({ code: "disk_full", status: 507, details: { disk: dataDir } });
      expect(told.length).toBeGreaterThan(0);
      expect((await store.environments.list()).map((environment) => environment.name)).toEqual(["before"]);
      unlinkSync(join(dataDir, "ballast"));
      await store.environments.create({ name: "after", type: "edge-agent" });
      await store.audit.append({ kind: "chaos", detail: { after: true } });
      expect((await store.environments.list()).map((environment) => environment.name)).toEqual(["before", "after"]);
    } finally {
      await store.close();
    }
    // Read-write, so that its close removes the WAL and its index, as a server's clean stop does.
    const check = new DatabaseSync(join(dataDir, "pier.db"));
    expect(check.prepare("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
    check.close();

    // A start on the full disk: SQLite cannot make its shared-memory index (SQLITE_IOERR_SHMSIZE,
    // "disk I/O error" before the fix); the refusal names the disk.
    fillTo(join(dataDir, "ballast"));
    const refused = await SqliteStore.open(join(dataDir, "pier.db")).then(
      (store) => store.close(),
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "disk_full", details: { disk: dataDir } });
    expect((refused as Error).message).toContain(`the disk holding Pier's data directory ${dataDir} is full`);
    unlinkSync(join(dataDir, "ballast"));
    await (await SqliteStore.open(join(dataDir, "pier.db"))).close();
  }, 60_000);
});
