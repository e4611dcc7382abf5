import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether process `pid` runs (0 or unreadable: assumed running, the holder is still writing its pid). */
function running(pid: number): boolean {
  if (!(pid > 0)) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the machine-wide lock `name` (a file in `$TMPDIR/pier-locks`), waiting while another live
 * process holds it; a lock whose process is gone is taken over. For what test files running in
 * parallel (or two checkouts) must not do at once on one machine: rebuild the images the main
 * Docker engine tags, or run a swarm (Docker binds the gossip port 7946 on every swarm node).
 *
 * @returns the function that releases it
 * @example
 * const release = await acquireHostLock("swarm");
 * try { … } finally { release(); }
 */
export async function acquireHostLock(name: string, timeoutMs = 15 * 60_000): Promise<() => void> {
  const dir = join(tmpdir(), "pier-locks");
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, `${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(lock, "utf8") || 0);
      if (!running(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by process ${holder} for ${Math.round(timeoutMs / 1000)} s; remove it if that process is gone.`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * Runs `work` holding the machine-wide lock `name` (`acquireHostLock`).
 *
 * @example
 * await withHostLock("build-images", () => buildImagesNow(tag));
 */
export async function withHostLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const release = await acquireHostLock(name);
  try {
    return await work();
  } finally {
    release();
  }
}
