import type { AgentError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { DockerEndpoint } from "./docker-client.ts";

/**
 * The one place that says whether Docker answers: a warning for each new problem, debug lines
 * while it repeats, one info line when Docker is back. Shared by snapshots and tunnels, and kept
 * across sessions, so a device without Docker logs one warning, not one per reconnect.
 */
export class DockerStatus {
  readonly #docker: DockerEndpoint;
  readonly #log: Logger;
  /** Code of the problem last logged; undefined while Docker answers. */
  #problem: string | undefined;

  constructor(docker: DockerEndpoint, log: Logger) {
    this.#docker = docker;
    this.#log = log;
  }

  /** Docker failed; `consequence` says what the device misses because of it. */
  failed(error: AgentError, consequence: string): void {
    const code = error.explained?.code ?? error.code;
    if (code === this.#problem) {
      this.#log.log("debug", `Docker still unavailable: ${error.message}`);
      return;
    }
    this.#problem = code;
    this.#log.log("warn", `${error.message} ${consequence}`);
  }

  /** Docker answered. */
  answered(): void {
    if (this.#problem !== undefined) this.#log.log("info", `Docker answers again at ${this.#docker.url}`);
    this.#problem = undefined;
  }
}
