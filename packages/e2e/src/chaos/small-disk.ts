import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A small disk of its own for a data directory (docs/chaos.md "disk full"): a tmpfs mounted
 * under a temporary directory named for the scenario, which a ballast file fills to the last
 * byte and frees again. Needs root (`mount -t tmpfs`).
 */
export interface SmallDisk extends AsyncDisposable {
  /** The mount point: give it (or a directory in it) as `--data`. */
  readonly path: string;
  /** The size it was mounted with, bytes. */
  readonly sizeBytes: number;
  /** A path on the disk. */
  file(name: string): string;
  /** Bytes still free (statfs), as a process writing there sees them. */
  freeBytes(): number;
  /**
   * Writes the ballast file until the disk refuses one more byte (ENOSPC), in ever smaller
   * pieces down to one byte, and returns how many bytes it wrote. Calling it again tops it up.
   */
  fill(): number;
  /** Removes the ballast: the space is back at once. */
  free(): void;
  /** Unmounts the disk (lazily, should a process still hold a file on it) and removes the temporary directory; twice is harmless. */
  remove(): void;
}

const ballastName = ".chaos-ballast";

function mustRun(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr.trim()}`);
}

/** Appends to `fd` until ENOSPC, with chunks halving from `chunk` down to one byte; returns the bytes written. */
function writeUntilFull(fd: number, chunk: number): number {
  const zeros = Buffer.alloc(chunk);
  let written = 0;
  for (let size = chunk; size >= 1; size = Math.floor(size / 2)) {
    for (;;) {
      try {
        const wrote = writeSync(fd, zeros, 0, size);
        written += wrote;
        if (wrote < size) break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw error;
      }
    }
  }
  return written;
}

/**
 * Mounts a tmpfs of `sizeBytes` at `<tmp>/pier-chaos-<name>-XXXX/disk` and returns it. The
 * caller disposes it (also on failure): ballast removed, unmounted, directory removed.
 *
 * @example
 * await using disk = mountSmallDisk("disk-full", 32 * 1024 * 1024);
 * const server = await startPierServer({ dataDir: disk.file("data") });
 * disk.fill(); // … the server's writes now fail with ENOSPC …
 * disk.free();
 */
export function mountSmallDisk(name: string, sizeBytes: number): SmallDisk {
  const root = mkdtempSync(join(tmpdir(), `pier-chaos-${name}-`));
  const path = join(root, "disk");
  mkdirSync(path);
  let mounted = false;
  const remove = () => {
    if (mounted) {
      const result = spawnSync("umount", [path], { encoding: "utf8", timeout: 30_000 });
      // Busy (a process still has a file open there): detach it now, the kernel frees it when the last one closes.
      if (result.status !== 0) spawnSync("umount", ["--lazy", path], { encoding: "utf8", timeout: 30_000 });
      mounted = false;
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    mustRun("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0700`, `pier-chaos-${name}`, path]);
    mounted = true;
  } catch (error) {
    remove();
    throw error;
  }
  const ballast = join(path, ballastName);
  return {
    path,
    sizeBytes,
    file: (file) => join(path, file),
    freeBytes() {
      const stats = statfsSync(path);
      return stats.bavail * stats.bsize;
    },
    fill() {
      const fd = openSync(ballast, "a", 0o600);
      try {
        return writeUntilFull(fd, 1024 * 1024);
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(ballast, { force: true });
    },
    remove,
    [Symbol.asyncDispose]() {
      remove();
      return Promise.resolve();
    },
  };
}
