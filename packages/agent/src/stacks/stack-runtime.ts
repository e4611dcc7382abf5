import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { edgeStackStatusTypes, fleetLimits, type DesiredStack, type EdgeStackStatusName } from "@pier/protocol";
import type { DockerEndpoint } from "../docker/docker-client.ts";
import type { FleetReporter, StackRuntime } from "../fleet/fleet-contracts.ts";
import type { Logger } from "../logger.ts";
import { parseComposeProject, type ComposeProject, type EnvVars } from "./compose-model.ts";
import { ComposeEngine } from "./compose-engine.ts";
import type { DeployRequest, StackEngine } from "./stack-engine.ts";

/**
 * The agent's edge stacks (docs/fleet.md "Edge stacks / On the device"): keeps each stack's
 * versions on disk, deploys the target version through a `StackEngine`, reports each status
 * transition once, and rolls a failed version back to the last one that ran.
 */

/** How long a deployed service must stay up before its version counts as running. */
export const defaultSettleMs = 10_000;
/** A failed version is tried again after this long, doubling per failure up to `maxRetryBackoffMs`. */
export const defaultRetryBackoffMs = 5 * 60_000;
export const maxRetryBackoffMs = 60 * 60_000;

/** Options of `createStackRuntime`. */
export interface StackRuntimeOptions {
  readonly docker: DockerEndpoint;
  /** The agent's data directory: stacks live in `DATA/fleet/stacks/<id>/`. */
  readonly dataDir: string;
  readonly reporter: FleetReporter;
  readonly log: Logger;
  /** Default: the standalone engine at `docker` (`ComposeEngine`); a swarm engine when the agent speaks for a swarm. */
  readonly engine?: StackEngine;
  readonly settleMs?: number;
  readonly retryBackoffMs?: number;
  readonly now?: () => number;
}

/** What the runtime remembers of a stack between passes and restarts (`DATA/fleet/stacks/<id>/state.json`). */
interface StackState {
  name: string;
  /** The last version that deployed and stayed up. */
  running?: number;
  /** A version that failed, and when it may be tried again. */
  failed?: { version: number; attempts: number; retryAt: number };
  /** The last transition reported, so each is reported once. */
  reported?: { version: number; type: number };
}

/** A version's files (`DATA/fleet/stacks/<id>/<version>/`): what a rollback redeploys. */
interface StoredVersion {
  readonly name: string;
  readonly version: number;
  readonly composeFile: string;
  readonly envVars: EnvVars;
}

const composeFileName = "docker-compose.yml";

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, fleetLimits.errorMessage);
}

/**
 * Builds the `StackRuntime` the desired-state sync calls: `reconcile(stacks)` brings the engine
 * to exactly `stacks` (a stack not listed is removed), one pass at a time.
 *
 * @example
 * const runtime = createStackRuntime({ docker, dataDir: "/data", reporter: outbox, log });
 * await runtime.reconcile(desired.stacks, signal);
 */
export function createStackRuntime(options: StackRuntimeOptions): StackRuntime {
  return new StackReconciler(options);
}

class StackReconciler implements StackRuntime {
  readonly #engine: StackEngine;
  readonly #root: string;
  readonly #reporter: FleetReporter;
  readonly #log: Logger;
  readonly #settleMs: number;
  readonly #retryBackoffMs: number;
  readonly #now: () => number;
  // Passes never overlap: a call waits for the one before it.
  #queue: Promise<void> = Promise.resolve();

  constructor(options: StackRuntimeOptions) {
    this.#engine = options.engine ?? new ComposeEngine(options.docker, options.log);
    this.#root = join(options.dataDir, "fleet", "stacks");
    this.#reporter = options.reporter;
    this.#log = options.log;
    this.#settleMs = options.settleMs ?? defaultSettleMs;
    this.#retryBackoffMs = options.retryBackoffMs ?? defaultRetryBackoffMs;
    this.#now = options.now ?? Date.now;
  }

  reconcile(stacks: readonly DesiredStack[], signal: AbortSignal): Promise<void> {
    const pass = this.#queue.then(() => this.#pass(stacks, signal));
    this.#queue = pass.catch(() => undefined);
    return pass.catch((error: unknown) => this.#log.log("error", `edge stacks: ${message(error)}`));
  }

  async #pass(stacks: readonly DesiredStack[], signal: AbortSignal): Promise<void> {
    await mkdir(this.#root, { recursive: true, mode: 0o700 });
    for (const stack of stacks) {
      if (signal.aborted) return;
      try {
        await this.#reconcileStack(stack, signal);
      } catch (error) {
        if (!signal.aborted) this.#log.log("error", `edge stack ${stack.name} (${stack.id}): ${message(error)}`);
      }
    }
    await this.#removeUnlisted(new Set(stacks.map((stack) => stack.id)), signal);
  }

  async #reconcileStack(stack: DesiredStack, signal: AbortSignal): Promise<void> {
    const state = (await this.#loadState(stack.id)) ?? { name: stack.name };
    if (state.name !== stack.name) {
      await this.#engine.remove(state.name, signal);
      state.name = stack.name;
      delete state.running;
    }
    const failedHere = state.failed?.version === stack.version;
    if (failedHere && state.failed && this.#now() < state.failed.retryAt) {
      // The target still names the version that failed: keep the rolled-back one in shape, quietly.
      const running = state.running === undefined ? undefined : await this.#loadVersion(stack.id, state.running);
      if (running) await this.#deploy(stack.id, running, stack, signal).catch((error: unknown) => this.#log.log("warn", `edge stack ${stack.name}: ${message(error)}`));
      return;
    }
    const attempt = state.running !== stack.version;
    const stored: StoredVersion = { name: stack.name, version: stack.version, composeFile: stack.composeFile, envVars: stack.envVars };
    await this.#saveVersion(stack.id, stored);
    if (attempt) await this.#report(stack.id, state, stack.version, "acknowledged");
    let reason: string | undefined;
    try {
      reason = await this.#deploy(stack.id, stored, stack, signal, attempt ? state : undefined);
    } catch (error) {
      if (signal.aborted) throw error;
      reason = message(error);
    }
    if (reason === undefined) {
      state.running = stack.version;
      delete state.failed;
      await this.#report(stack.id, state, stack.version, "running");
      await this.#saveState(stack.id, state);
      await this.#pruneVersions(stack.id, new Set([stack.version]));
      return;
    }
    this.#log.log("warn", `edge stack ${stack.name}: version ${stack.version} failed: ${reason}`);
    await this.#report(stack.id, state, stack.version, "error", { error: reason });
    if (!attempt) return this.#saveState(stack.id, state);
    const attempts = failedHere && state.failed ? state.failed.attempts + 1 : 1;
    state.failed = { version: stack.version, attempts, retryAt: this.#now() + Math.min(this.#retryBackoffMs * 2 ** (attempts - 1), maxRetryBackoffMs) };
    await this.#saveState(stack.id, state);
    const previous = state.running === undefined ? undefined : await this.#loadVersion(stack.id, state.running);
    if (!previous) return;
    await this.#report(stack.id, state, stack.version, "rollingBack");
    let rollback: string | undefined;
    try {
      rollback = await this.#deploy(stack.id, previous, stack, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      rollback = message(error);
    }
    if (rollback === undefined) await this.#report(stack.id, state, stack.version, "rolledBack", { rolledBackTo: previous.version });
    else await this.#report(stack.id, state, stack.version, "error", { error: `rollback to version ${previous.version} failed: ${rollback}` });
    await this.#saveState(stack.id, state);
  }

  /** Deploys `stored` and waits for it to settle; resolves with why it did not run, or `undefined`. */
  async #deploy(stackId: number, stored: StoredVersion, stack: DesiredStack, signal: AbortSignal, reporting?: StackState): Promise<string | undefined> {
    const workingDir = join(this.#root, String(stackId));
    const project: ComposeProject = parseComposeProject(stored.name, stored.composeFile, stored.envVars, workingDir);
    let pulled: Promise<void> = Promise.resolve();
    const request: DeployRequest = {
      stackId,
      version: stored.version,
      project,
      registries: stack.registries,
      workingDir,
      configFile: join(workingDir, String(stored.version), composeFileName),
      signal,
      onImagesPulled: () => {
        if (reporting) pulled = this.#report(stackId, reporting, stored.version, "imagesPulled").then(() => this.#report(stackId, reporting, stored.version, "deploying"));
      },
    };
    const outcome = await this.#engine.deploy(request);
    await pulled;
    return this.#engine.verify(request, outcome.touched, this.#settleMs);
  }

  async #removeUnlisted(listed: ReadonlySet<number>, signal: AbortSignal): Promise<void> {
    const onDisk = (await readdir(this.#root)).filter((entry) => /^[1-9][0-9]*$/.test(entry)).map(Number);
    const onEngine = await this.#engine.deployedStacks(signal);
    const ids = new Set([...onDisk, ...onEngine.map((deployed) => deployed.stackId)]);
    for (const id of ids) {
      if (listed.has(id) || signal.aborted) continue;
      const state = await this.#loadState(id);
      const projects = new Set([...(state ? [state.name] : []), ...onEngine.filter((deployed) => deployed.stackId === id).map((deployed) => deployed.project)]);
      const version = state?.running ?? state?.failed?.version ?? state?.reported?.version;
      try {
        if (state && version !== undefined) await this.#report(id, state, version, "removing");
        for (const project of projects) await this.#engine.remove(project, signal);
        if (state && version !== undefined) await this.#report(id, state, version, "removed");
        await rm(join(this.#root, String(id)), { recursive: true, force: true });
      } catch (error) {
        if (signal.aborted) return;
        this.#log.log("error", `edge stack ${[...projects].join(", ")} (${id}): removal failed: ${message(error)}`);
        if (state && version !== undefined) {
          await this.#report(id, state, version, "error", { error: `removal failed: ${message(error)}` });
          await this.#saveState(id, state);
        }
      }
    }
  }

  /** Reports a transition unless it is the one last reported for this stack. */
  async #report(stackId: number, state: StackState, version: number, name: EdgeStackStatusName, extra: { error?: string; rolledBackTo?: number } = {}): Promise<void> {
    const type = edgeStackStatusTypes[name];
    if (state.reported?.version === version && state.reported.type === type) return;
    state.reported = { version, type };
    this.#reporter.stack({ stackId, version, type, time: Math.floor(this.#now() / 1000), ...(extra.error !== undefined ? { error: extra.error.slice(0, fleetLimits.errorMessage) } : {}), ...(extra.rolledBackTo !== undefined ? { rolledBackTo: extra.rolledBackTo } : {}) });
    if (name !== "removed") await this.#saveState(stackId, state);
  }

  async #loadState(stackId: number): Promise<StackState | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#root, String(stackId), "state.json"), "utf8")) as StackState;
    } catch {
      return undefined;
    }
  }

  async #saveState(stackId: number, state: StackState): Promise<void> {
    const dir = join(this.#root, String(stackId));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, "state.json");
    await writeFile(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  async #saveVersion(stackId: number, stored: StoredVersion): Promise<void> {
    const dir = join(this.#root, String(stackId), String(stored.version));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // The environment variables may hold secrets: both files are the agent's alone.
    await writeFile(join(dir, composeFileName), stored.composeFile, { mode: 0o600 });
    await writeFile(join(dir, "stack.json"), JSON.stringify({ name: stored.name, version: stored.version, envVars: stored.envVars }), { mode: 0o600 });
  }

  async #loadVersion(stackId: number, version: number): Promise<StoredVersion | undefined> {
    const dir = join(this.#root, String(stackId), String(version));
    try {
      const meta = JSON.parse(await readFile(join(dir, "stack.json"), "utf8")) as { name: string; envVars: EnvVars };
      return { name: meta.name, version, envVars: meta.envVars, composeFile: await readFile(join(dir, composeFileName), "utf8") };
    } catch {
      return undefined;
    }
  }

  /** Deletes the version directories of a stack other than `keep` (the one that runs). */
  async #pruneVersions(stackId: number, keep: ReadonlySet<number>): Promise<void> {
    const dir = join(this.#root, String(stackId));
    for (const entry of await readdir(dir)) {
      if (/^[1-9][0-9]*$/.test(entry) && !keep.has(Number(entry))) await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}
