import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeFileAtomic, writeFully, writeNewFile } from "./files.ts";

const root = process.getuid?.() === 0;
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) {
    spawnSync("umount", ["--lazy", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A 64 KiB tmpfs (root only) left with `freeBytes` free: ballast written to the last byte, then that much released. */
function nearlyFullDisk(freeBytes: number): string {
  const dir = mkdtempSync(join(tmpdir(), "pier-pki-files-"));
  dirs.push(dir);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "pier-pki-files", dir], { encoding: "utf8" });
  if (mounted.status !== 0) throw new Error(`mount: ${mounted.stderr}`);
  writeFileSync(join(dir, "key.pem"), "old key\n");
  const fd = openSync(join(dir, "ballast"), "w");
  const page = Buffer.alloc(4096);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, page);
  } catch {
    // ENOSPC: full
  }
  closeSync(fd);
  spawnSync("truncate", ["-s", String(Math.max(0, size - freeBytes)), join(dir, "ballast")]);
  return dir;
}

describe("file writes on a full disk", () => {
  it("writes the rest after a short write, and fails rather than stop short when nothing more is written", () => {
    const written: string[] = [];
    writeFully(7, Buffer.from("abcdefghij"), (_fd, buffer, offset, length) => {
      const part = Math.min(3, length);
      written.push(buffer.subarray(offset, offset + part).toString());
      return part;
    });
    expect(written.join("")).toBe("abcdefghij");
    expect(() => writeFully(7, Buffer.from("abc"), () => 0)).toThrow(expect.objectContaining({ code: "ENOSPC" }));
  });

  it.skipIf(!root)("never renames a truncated file into place, and leaves no temporary behind (tmpfs with one page free)", () => {
    const dir = nearlyFullDisk(4096);
    const key = join(dir, "key.pem");
    // 10,000 bytes into 4 KiB of room: write(2) writes 4096 and says so; before the fix that was renamed over the key.
    expect(() => writeFileAtomic(key, "k".repeat(10_000), 0o600)).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    expect(readFileSync(key, "utf8")).toBe("old key\n");
    expect(readdirSync(dir).sort()).toEqual(["ballast", "key.pem"]);
    expect(() => writeNewFile(join(dir, "new.pem"), "n".repeat(10_000))).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    expect(readdirSync(dir).sort()).toEqual(["ballast", "key.pem"]);
  });
});
