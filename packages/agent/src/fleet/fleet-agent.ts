import type { ClientHttp2Session } from "node:http2";
import type { DesiredAgentUpdate, DesiredJob, DesiredStack, Status, Welcome } from "@pier/protocol";
import type { Logger } from "../logger.ts";
import { DesiredStateSync } from "./desired-state-sync.ts";
import { type FleetConnection, sessionConnection } from "./fleet-connection.ts";
import type { FleetReporter, JobRuntime, StackRuntime } from "./fleet-contracts.ts";
import { Outbox } from "./outbox.ts";

/** Options of `FleetAgent`. */
export interface FleetAgentOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Builds the stack runtime (`createStackRuntime`, stacks/stack-runtime.ts); without it stacks are only logged. */
  readonly stackRuntime?: (reporter: FleetReporter) => StackRuntime;
  /** Builds the job runtime (`createJobRuntime`, jobs/job-runtime.ts); without it jobs are only logged. */
  readonly jobRuntime?: (reporter: FleetReporter) => JobRuntime;
  /** Builds the agent updater (`AgentUpdater`, update/agent-updater.ts); without it updates are ignored. */
  readonly agentUpdater?: (reporter: Outbox) => FleetAgentUpdater;
  /** Default 30 s. */
  readonly reconcileIntervalMs?: number;
  /** Outbox retry delays; default the agent's backoff. */
  readonly retryDelay?: (attempt: number) => number;
}

/** The part of `AgentUpdater` the fleet side drives. */
export interface FleetAgentUpdater {
  start(): void;
  welcomed(): void;
  apply(update: DesiredAgentUpdate | undefined): void;
}

/** A runtime that is not built yet: says what it would do, once per target. */
function loggingStacks(log: Logger): StackRuntime {
  let last = "";
  return {
    reconcile: (stacks: readonly DesiredStack[]) => {
      const said = stacks.map((stack) => `${stack.name}@${stack.version}`).join(", ");
      if (said !== last && stacks.length > 0) log.log("warn", `this agent cannot deploy stacks yet (no stack runtime); asked for: ${said}`);
      last = said;
      return Promise.resolve();
    },
  };
}

function loggingJobs(log: Logger): JobRuntime {
  let last = "";
  return {
    update: (jobs: readonly DesiredJob[]) => {
      const said = jobs.map((job) => `${job.name}@${job.version}`).join(", ");
      if (said !== last && jobs.length > 0) log.log("warn", `this agent cannot run edge jobs yet (no job runtime); asked for: ${said}`);
      last = said;
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The agent's fleet side (docs/fleet.md): the desired-state sync, the outbox of reports and the
 * runtimes they drive. `EdgeAgent` tells it of each session (its HTTP/2 connection, welcome and
 * status frames) or polling check-in; everything else happens here, connected or not.
 *
 * @example
 * const fleet = new FleetAgent({ dataDir, log, stackRuntime: (reporter) => createStackRuntime({ docker, dataDir, reporter, log }) });
 * fleet.start();
 * fleet.sessionMessage(welcome, http2); // fetches the desired state if its version is new
 */
export class FleetAgent {
  readonly outbox: Outbox;
  readonly sync: DesiredStateSync;
  readonly #jobs: JobRuntime;
  readonly #updater: FleetAgentUpdater | undefined;
  /** One connection object per HTTP/2 session, so a closed one is told apart from its successor. */
  readonly #connections = new WeakMap<ClientHttp2Session, FleetConnection>();

  constructor(options: FleetAgentOptions) {
    this.outbox = new Outbox({ dataDir: options.dataDir, log: options.log, ...(options.retryDelay ? { retryDelay: options.retryDelay } : {}) });
    const stacks = options.stackRuntime?.(this.outbox) ?? loggingStacks(options.log);
    this.#jobs = options.jobRuntime?.(this.outbox) ?? loggingJobs(options.log);
    const updater = options.agentUpdater?.(this.outbox);
    this.#updater = updater;
    this.sync = new DesiredStateSync({ dataDir: options.dataDir, log: options.log, stacks, jobs: this.#jobs, ...(updater ? { agentUpdate: (update: DesiredAgentUpdate | undefined) => updater.apply(update) } : {}), ...(options.reconcileIntervalMs ? { reconcileIntervalMs: options.reconcileIntervalMs } : {}) });
  }

  /** Acts on the desired state kept on disk at once (offline too), then every 30 s. */
  start(): void {
    this.#updater?.start();
    this.sync.start();
  }

  /** A welcome or status on a session: reports flow on its connection; a new version is fetched on it. */
  sessionMessage(message: Welcome | Status, http2: ClientHttp2Session): void {
    const connection = this.#connectionOf(http2);
    this.#heard(message, connection);
  }

  /** The session on `http2` ended. */
  sessionClosed(http2: ClientHttp2Session): void {
    const connection = this.#connections.get(http2);
    if (!connection) return;
    this.outbox.disconnected(connection);
    this.sync.disconnected(connection);
  }

  /** A polling check-in was welcomed: reports and fetches go on `connection` (one request per connection). */
  polled(welcome: Welcome, connection: FleetConnection): void {
    this.#heard(welcome, connection);
  }

  /** Stops the sync, the outbox and the job schedules. */
  async close(): Promise<void> {
    await this.sync.close();
    await this.outbox.close();
    await this.#jobs.close();
  }

  #heard(message: Welcome | Status, connection: FleetConnection): void {
    // A new agent waited for by the swap helper keeps its place once the server welcomes it.
    if (message.type === "welcome") this.#updater?.welcomed();
    // A device moved back to the waiting room keeps its target but fetches nothing new; the
    // server takes reports from associated devices only.
    if (message.status !== "associated") return;
    this.outbox.connected(connection);
    this.sync.heard(message.desiredStateVersion, connection);
  }

  #connectionOf(http2: ClientHttp2Session): FleetConnection {
    let connection = this.#connections.get(http2);
    if (!connection) {
      connection = sessionConnection(http2);
      this.#connections.set(http2, connection);
    }
    return connection;
  }
}
