import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { PkiError } from "../errors.ts";

/**
 * Writes a file so that readers see the old or the new content, never a torn one:
 * temporary file, fsync, rename. `mode` applies from creation (keys are never world-readable,
 * not even for an instant).
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const temporary = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  const fd = openSync(temporary, "wx", mode);
  try {
    try {
      writeFully(fd, typeof data === "string" ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    // A full disk (ENOSPC) lands here: the file keeps its old content and no half-written
    // temporary is left to take the space that is missing.
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Writes all of `data` to `fd`. `write(2)` may write less than asked without failing: on a file
 * system with less room than `data` it writes what fits and fails only on the next call
 * (ENOSPC). Taking one call's count as the whole file renamed a truncated key into place on a
 * full disk (chaos suite, disk-full).
 */
export function writeFully(fd: number, data: Buffer, write: (fd: number, buffer: Buffer, offset: number, length: number) => number = writeSync): void {
  for (let offset = 0; offset < data.length; ) {
    const wrote = write(fd, data, offset, data.length - offset);
    if (wrote <= 0) throw Object.assign(new Error(`ENOSPC: no space left on device, write (${data.length - offset} of ${data.length} bytes not written)`), { code: "ENOSPC" });
    offset += wrote;
  }
}

/** Writes a new file that must not exist yet (refuses to overwrite). */
export function writeNewFile(path: string, data: string | Buffer, mode = 0o644): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new PkiError("io_error", `${path} already exists; Pier does not overwrite certificates or keys. Remove it or choose another --out.`, { cause: error });
    throw new PkiError("io_error", `Cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    try {
      writeFully(fd, typeof data === "string" ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    // Never leave a truncated certificate or key behind (a full disk): the file did not exist before.
    rmSync(path, { force: true });
    throw error;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `work` holding an exclusive lock file, so two `pier ca` commands on the same directory
 * cannot hand out the same CRL number or lose each other's index entries. A lock left by a
 * process that no longer exists is taken over.
 */
export async function withLock<T>(lockPath: string, work: () => Promise<T> | T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lockPath, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new PkiError("io_error", `Cannot create lock ${lockPath}: ${(error as Error).message}`, { cause: error });
      const holder = Number(readFileSync(lockPath, "utf8").trim());
      if (!Number.isInteger(holder) || holder <= 0 || !processAlive(holder)) {
        unlinkSync(lockPath);
        continue;
      }
      if (attempt > 100) throw new PkiError("ca_locked", `The CA directory is in use by process ${holder} (lock ${lockPath}). Wait for it to finish.`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await work();
  } finally {
    if (existsSync(lockPath)) unlinkSync(lockPath);
  }
}
