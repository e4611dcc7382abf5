import type { DockerState } from "@pier/protocol";

/** What the server knows of a device's Docker Engine: the agent's last report, and when it came. */
export interface KnownDockerState extends DockerState {
  /** When the heartbeat carrying this state arrived. */
  readonly at: Date;
}

/**
 * Whether each connected device's Docker Engine answers, as its agent last reported it in a
 * heartbeat (`heartbeat.docker`, docs/protocol.md "Frames"). Memory only, like the check-ins it
 * rides with: the agent reports it again at the start of every session, so nothing is written to
 * the store. A device without a report (an older agent, polling, no session here) is unknown.
 *
 * @example
 * const states = new DockerStates();
 * states.report(7, { state: "down", error: "connect ENOENT /var/run/docker.sock" });
 * states.of(7)?.state; // "down"
 * states.forget(7);    // its session closed: unknown again
 */
export class DockerStates {
  readonly #states = new Map<number, KnownDockerState>();

  /** Keeps the latest report of environment `environmentId`. */
  report(environmentId: number, state: DockerState, at = new Date()): void {
    this.#states.set(environmentId, { state: state.state, ...(state.error === undefined ? {} : { error: state.error }), at });
  }

  /** The latest report, or `undefined` while unknown. */
  of(environmentId: number): KnownDockerState | undefined {
    return this.#states.get(environmentId);
  }

  /** Drops a device's report (its session closed here): its Docker state is unknown again. */
  forget(environmentId: number): void {
    this.#states.delete(environmentId);
  }
}
