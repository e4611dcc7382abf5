import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** How a process is started with a clock `offsetSeconds` off the machine's. */
export interface SkewedClock {
  /** Added to its environment: libfaketime preloaded, and its offset. */
  readonly env: NodeJS.ProcessEnv;
}

/** FAKETIME's relative form: `-18000s`, `+259200s`. */
function offsetSpec(offsetSeconds: number): string {
  return `${offsetSeconds < 0 ? "-" : "+"}${Math.abs(Math.round(offsetSeconds))}s`;
}

/** Debian's libfaketime (package libfaketime, which `faketime` depends on), or an error saying what to install. */
function libfaketime(): string {
  for (const dir of readdirSync("/usr/lib", { withFileTypes: true })) {
    const candidate = join("/usr/lib", dir.name, "faketime", "libfaketime.so.1");
    if (dir.isDirectory() && existsSync(candidate)) return candidate;
  }
  throw new Error("libfaketime is not installed (Debian package faketime): run scripts/ensure-tools.sh");
}

/**
 * The environment that runs a process under Debian's libfaketime as the `faketime` command
 * does (LD_PRELOAD and FAKETIME, here without the wrapper process, so that stopping `pier`
 * stops the agent itself): its wall clock — `Date.now()`, and the time OpenSSL verifies
 * certificates at — is `offsetSeconds` off the machine's; its monotonic clock is left alone
 * (`FAKETIME_DONT_FAKE_MONOTONIC=1`: timers run at the right pace, and a clock hours behind on a
 * machine up for less would go negative). File times are not moved (Node's libuv reads them with
 * the `statx` system call, which libfaketime does not reach): an mtime there is the machine's time.
 *
 * @example
 * const agent = startPierAgent({ edgeId, edgeKey, dataDir, env: skewedClock(-5 * 3600).env });
 */
export function skewedClock(offsetSeconds: number): SkewedClock {
  return { env: { LD_PRELOAD: libfaketime(), FAKETIME: offsetSpec(offsetSeconds), FAKETIME_DONT_FAKE_MONOTONIC: "1" } };
}

/**
 * How far off the machine's clock `Date.now()` reads under `skewedClock(offsetSeconds)`, in
 * seconds, measured with the Node that runs `pier` (a scenario's proof that libfaketime reaches it).
 *
 * @example
 * const measured = measuredSkewSeconds(-5 * 3600); // ≈ -18000
 */
export function measuredSkewSeconds(offsetSeconds: number): number {
  const before = Date.now();
  const result = spawnSync(process.execPath, ["-e", "process.stdout.write(String(Date.now()))"], { encoding: "utf8", env: { ...process.env, ...skewedClock(offsetSeconds).env }, timeout: 30_000 });
  const after = Date.now();
  const reading = Number(result.stdout);
  if (result.status !== 0 || !Number.isFinite(reading)) throw new Error(`node under libfaketime failed (${result.status}): ${result.stderr}`);
  return Math.round((reading - (before + after) / 2) / 1000);
}
