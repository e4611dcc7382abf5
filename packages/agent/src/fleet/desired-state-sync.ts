import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@pier/pki";
import { desiredStateSchema, edgePaths, fleetLimits, type DesiredAgentUpdate, type DesiredState } from "@pier/protocol";
import type { Logger } from "../logger.ts";
import type { FleetConnection } from "./fleet-connection.ts";
import type { JobRuntime, StackRuntime } from "./fleet-contracts.ts";

/** Options of `DesiredStateSync`. */
export interface DesiredStateSyncOptions {
  /** The agent's data directory: the target is kept in `fleet/desired-state.json` (0600, directory 0700). */
  readonly dataDir: string;
  readonly log: Logger;
  readonly stacks: StackRuntime;
  readonly jobs: JobRuntime;
  /** Told the target's agent update at each pass (update/agent-updater.ts; acts once per update). */
  readonly agentUpdate?: (update: DesiredAgentUpdate | undefined) => void;
  /** How often the engine is reconciled again to repair drift (default 30 s). */
  readonly reconcileIntervalMs?: number;
}

/**
 * Keeps this device's desired state (docs/fleet.md "Desired state"): when a welcome or status
 * names a version other than the one held, fetches the document on the connection the agent
 * has, checks it (`desiredStateSchema`, at most `fleetLimits.desiredStateBytes`), writes it to
 * `DATA/fleet/desired-state.json` BEFORE acting on it, then reconciles: the stacks
 * (`StackRuntime.reconcile`) and the job schedule (`JobRuntime.update`). At start it acts on
 * the file at once, connected or not, and again every 30 s. One pass runs at a time; a target
 * that arrives meanwhile waits for it, and supersedes any that waited before.
 *
 * @example
 * const sync = new DesiredStateSync({ dataDir, log, stacks, jobs });
 * sync.start();
 * sync.heard(welcome.desiredStateVersion, sessionConnection(http2));
 */
export class DesiredStateSync {
  readonly #path: string;
  readonly #options: DesiredStateSyncOptions;
  readonly #log: Logger;
  /** The target held (the file's content). */
  #held: DesiredState | undefined;
  /** The version the server announced last, and the connection to fetch it on. */
  #announced: { version: string; connection: FleetConnection } | undefined;
  /** The fetch under way, for the version it fetches. */
  #fetching: string | undefined;
  /** The reconcile pass running, and whether another was asked for meanwhile. */
  #running: Promise<void> | undefined;
  #queued = false;
  #timer: NodeJS.Timeout | undefined;
  /** Aborted when the agent stops: the pass and the fetch under way end. */
  readonly #stopped = new AbortController();

  constructor(options: DesiredStateSyncOptions) {
    this.#options = options;
    this.#log = options.log;
    const dir = join(options.dataDir, "fleet");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#path = join(dir, "desired-state.json");
  }

  /** The target held, if any. */
  get held(): DesiredState | undefined {
    return this.#held;
  }

  /** Loads the kept target and reconciles towards it at once, then every 30 s. */
  start(): void {
    this.#held = this.#load();
    if (this.#held) this.#log.log("info", `desired state ${this.#held.version.slice(0, 12)} loaded from ${this.#path}: ${this.#held.stacks.length} stack(s), ${this.#held.jobs.length} job(s)`);
    this.reconcile();
    this.#timer = setInterval(() => {
      this.#retryFetch();
      this.reconcile();
    }, this.#options.reconcileIntervalMs ?? 30_000);
    this.#timer.unref();
  }

  /** A welcome or status named `version` (absent: the server has none for this device yet). */
  heard(version: string | undefined, connection: FleetConnection): void {
    if (version === undefined) return;
    this.#announced = { version, connection };
    this.#retryFetch();
  }

  /** The connection the announcement came on is gone. */
  disconnected(connection: FleetConnection): void {
    if (this.#announced?.connection === connection) this.#announced = undefined;
  }

  /** Asks for a reconcile pass (after the one running, if any). */
  reconcile(): void {
    if (this.#stopped.signal.aborted) return;
    if (this.#running) {
      this.#queued = true;
      return;
    }
    const target = this.#held;
    if (!target) return;
    this.#running = this.#pass(target).finally(() => {
      this.#running = undefined;
      if (this.#queued) {
        this.#queued = false;
        this.reconcile();
      }
    });
  }

  /** Stops the timer and the pass under way; waits for it to end. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopped.abort();
    await this.#running;
  }

  async #pass(target: DesiredState): Promise<void> {
    const activity = new AbortController();
    const stop = () => activity.abort();
    this.#stopped.signal.addEventListener("abort", stop, { once: true });
    try {
      this.#options.agentUpdate?.(target.agentUpdate);
      this.#options.jobs.update(target.jobs);
      await this.#options.stacks.reconcile(target.stacks, activity.signal);
    } catch (error) {
      this.#log.log("error", `reconciling desired state ${target.version.slice(0, 12)} failed unexpectedly: ${error instanceof Error ? error.message : String(error)}; trying again in 30 s`);
    } finally {
      this.#stopped.signal.removeEventListener("abort", stop);
    }
  }

  /** Fetches the announced version when it is not the one held and no fetch of it is under way. */
  #retryFetch(): void {
    const announced = this.#announced;
    if (!announced || announced.version === this.#held?.version || announced.version === this.#fetching) return;
    this.#fetching = announced.version;
    this.#fetch(announced.connection)
      .catch((error: unknown) => {
        if (!this.#stopped.signal.aborted) this.#log.log("warn", `could not fetch the desired state ${announced.version.slice(0, 12)} (${error instanceof Error ? error.message : String(error)}); the device keeps the one it holds and tries again in 30 s`);
      })
      .finally(() => {
        if (this.#fetching === announced.version) this.#fetching = undefined;
      });
  }

  async #fetch(connection: FleetConnection): Promise<void> {
    const answer = await connection.request("GET", edgePaths.desiredState, undefined, { signal: this.#stopped.signal, maxAnswerBytes: fleetLimits.desiredStateBytes });
    if (answer.status !== 200) throw new Error(`the server answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    let value: unknown;
    try {
      value = JSON.parse(answer.body);
    } catch {
      throw new Error("the server's answer is not JSON");
    }
    const parsed = desiredStateSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`the server's document is invalid: ${issue?.path.map(String).join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
    }
    const state = parsed.data;
    if (state.version === this.#held?.version) return;
    // Kept before it is acted on: a restart, or a device offline from now on, goes on towards it.
    writeFileAtomic(this.#path, JSON.stringify(state), 0o600);
    this.#held = state;
    this.#log.log("info", `desired state ${state.version.slice(0, 12)} received: ${state.stacks.length} stack(s), ${state.jobs.length} job(s)`);
    this.reconcile();
  }

  #load(): DesiredState | undefined {
    if (!existsSync(this.#path)) return undefined;
    try {
      const parsed = desiredStateSchema.safeParse(JSON.parse(readFileSync(this.#path, "utf8")));
      if (parsed.success) return parsed.data;
      this.#log.log("warn", `${this.#path} is not a valid desired state; it is ignored until the server sends one`);
    } catch (error) {
      this.#log.log("warn", `${this.#path} could not be read (${error instanceof Error ? error.message : String(error)}); it is ignored until the server sends a desired state`);
    }
    return undefined;
  }
}
