import { run } from "./run.ts";

/** The test image built by scripts/ensure-docker.sh (busybox, made locally: no registry here). */
export const testImage = "pier-test/busybox";

/**
 * Runs the real docker CLI (against the local engine unless `env` sets DOCKER_HOST); throws with
 * its output on failure, or when it runs longer than `timeoutMs` (default 60 s).
 */
export function docker(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): string {
  const result = run("docker", args, { env, timeoutMs });
  if (result.status !== 0) throw new Error(`docker ${args.join(" ")} failed (${result.status}):\n${result.output}`);
  return result.stdout.trim();
}

/**
 * Polls a `docker logs` command (`["logs", name]`, `["service", "logs", name]`) until its output
 * matches `pattern`; returns the match, or fails with the output seen last.
 */
export async function waitForDockerLog(logs: readonly string[], pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = run("docker", logs, { timeoutMs: 30_000 });
    const match = pattern.exec(result.output);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in docker ${logs.join(" ")}:\n${result.output.slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
