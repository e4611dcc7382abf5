import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/** The small local image `scripts/ensure-docker.sh` builds (no registry is reachable in tests). */
export const testImage = "pier-test/busybox";

/** Runs the docker CLI against the local engine and returns its trimmed output. */
export function docker(args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A container name no other test (or run) uses. */
export function uniqueName(prefix: string): string {
  return `pier-agent-test-${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** Removes containers, ignoring those already gone. */
export function removeContainers(names: Iterable<string>): void {
  for (const name of names) {
    try {
      docker(["rm", "-f", name]);
    } catch {
      // already gone
    }
  }
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
