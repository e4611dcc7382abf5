import { spawnSync } from "node:child_process";
import { join } from "node:path";

/** Result of a finished process. */
export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together, for assertions on messages. */
  readonly output: string;
}

const repositoryRoot = join(import.meta.dirname, "..", "..", "..");

/** The installed `pier` command (node_modules/.bin/pier), as a user runs it. */
export const pierBinary = join(repositoryRoot, "node_modules", ".bin", "pier");

/** Runs a command to completion with no standard input (or `input`), killing it after `timeoutMs` (default 120 s). */
export function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    input: options.input ?? "",
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    // The docker CLI forwards SIGTERM to an attached container instead of exiting.
    killSignal: "SIGKILL",
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: result.stdout + result.stderr };
}

/** Runs `pier ARGS…` the way an operator does. */
export function pier(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  return run(pierBinary, args, options);
}

/** Runs `pier ARGS…` for a fixture step (`pier ca …`) and throws with its output when it fails. */
export function pierOk(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const result = pier(args, options);
  if (result.status !== 0) throw new Error(`pier ${args.join(" ")}: ${result.output}`);
}

/**
 * Runs `openssl ARGS…` and throws with its output when it fails, so a broken fixture step
 * is reported as such rather than as a confusing assertion later.
 */
export function openssl(args: readonly string[], options: { cwd?: string; input?: string } = {}): string {
  const result = run("openssl", args, options);
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${result.status}):\n${result.output}`);
  return result.output;
}

/** Runs a shell script with bash (for the seeds' commands, which use process substitution); `timeoutMs` as `run`. */
export function bash(script: string, options: { cwd?: string; timeoutMs?: number } = {}): RunResult {
  return run("bash", ["-euo", "pipefail", "-c", script], options);
}
