import type { DockerState } from "@pier/protocol";
import { dockerStateLimits } from "@pier/protocol/wire";
import { sleep } from "../backoff.ts";
import { AgentError } from "../errors.ts";
import { dockerResponse, dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";
import type { DockerStatus } from "./docker-status.ts";

/** The longest a ping may take before Docker counts as down (less when the check-in interval is shorter). */
export const dockerPingTimeoutMs = 5_000;

/** Where the reporter sends a changed state: the session's early heartbeat (`EdgeSession.heartbeatNow`). */
export interface DockerStateSink {
  heartbeatNow(docker: DockerState): void;
}

/**
 * Pings the Docker Engine once (`GET /_ping`): `up` when it answers 2xx within `timeoutMs`,
 * else `down` with the reason (at most `dockerStateLimits.errorLength` characters) and the error.
 *
 * @example
 * const { state } = await pingDocker(parseDockerHost(process.env.DOCKER_HOST), 5_000, signal);
 */
export async function pingDocker(docker: DockerEndpoint, timeoutMs: number, signal: AbortSignal): Promise<{ state: DockerState; error?: AgentError }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await dockerResponse(docker, "/_ping", AbortSignal.any([signal, timeout]));
    response.resume();
    const status = response.statusCode ?? 0;
    if (status >= 200 && status <= 299) return { state: { state: "up" } };
    throw new AgentError("docker_unavailable", `Docker at ${docker.url} answered HTTP ${status} to a ping. Check the Docker daemon's log.`, { explained: { code: `docker_http_${status}`, cause: `Docker at ${docker.url} answered HTTP ${status} to a ping.`, fix: "Check the Docker daemon's log." } });
  } catch (failure) {
    const error =
      timeout.aborted && !signal.aborted
        ? new AgentError("docker_unavailable", `Docker at ${docker.url} did not answer a ping within ${timeoutMs / 1000} s. Check that the Docker daemon is healthy (docker info).`, {
            explained: { code: "docker_timeout", cause: `Docker at ${docker.url} did not answer a ping within ${timeoutMs / 1000} s.`, fix: "Check that the Docker daemon is healthy (docker info)." },
          })
        : dockerUnavailable(docker, failure);
    return { state: { state: "down", error: reasonOf(error) }, error };
  }
}

/** The error's cause (what the UI shows as the reason), cut to the protocol's limit. */
function reasonOf(error: AgentError): string {
  const text = error.explained?.cause ?? error.message;
  const limit = dockerStateLimits.errorLength;
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/**
 * Tells the server whether this device's Docker Engine answers (docs/protocol.md "Frames"):
 * during a session, pings Docker every check-in interval and, when the answer differs from what
 * this session last said (and once at its start), sends a heartbeat at once carrying it. Docker
 * going away therefore shows on the server within one interval (plus the ping's timeout when
 * Docker hangs instead of refusing). Problems are logged through `DockerStatus`, once each.
 */
export class DockerStateReporter {
  readonly #docker: DockerEndpoint;
  readonly #status: DockerStatus;

  constructor(docker: DockerEndpoint, status: DockerStatus) {
    this.#docker = docker;
    this.#status = status;
  }

  /**
   * Reports over `session` until `signal` aborts (the session's end). Never rejects.
   *
   * @example
   * await reporter.run(session, () => checkinIntervalSeconds * 1000, activity.signal);
   */
  async run(session: DockerStateSink, intervalMs: () => number, signal: AbortSignal): Promise<void> {
    let said: string | undefined;
    while (!signal.aborted) {
      const interval = intervalMs();
      const { state, error } = await pingDocker(this.#docker, Math.min(interval, dockerPingTimeoutMs), signal);
      if (signal.aborted) return;
      if (error) this.#status.failed(error, "The server shows Docker as down on this device until it answers.");
      else this.#status.answered();
      const key = `${state.state}\n${state.error ?? ""}`;
      if (key !== said) {
        session.heartbeatNow(state);
        said = key;
      }
      await sleep(interval, signal);
    }
  }
}
