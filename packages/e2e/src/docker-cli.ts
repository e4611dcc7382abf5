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
