import type { RegistryCredential } from "@pier/protocol";
import type { ComposeProject } from "./compose-model.ts";

/**
 * What the stack runtime needs from an engine: the standalone Docker engine (`compose-engine.ts`)
 * or a swarm the agent speaks for (`swarm-engine.ts`). The runtime owns versions, rollback and
 * reports; an engine only deploys, checks and removes one project at a time.
 */

/** One deployment of a stack's version. */
export interface DeployRequest {
  readonly stackId: number;
  readonly version: number;
  readonly project: ComposeProject;
  /** Credentials of the registries the stack names (matched by registry host). */
  readonly registries: readonly RegistryCredential[];
  /** The stack's directory (`com.docker.compose.project.working_dir`) and its compose file. */
  readonly workingDir: string;
  readonly configFile: string;
  readonly signal: AbortSignal;
  /** Called once every image is present (after the pulls, if any). */
  readonly onImagesPulled: () => void;
}

/** What a deployment changed. */
export interface DeployOutcome {
  /** Steps applied, in words (empty: the engine already matched). */
  readonly steps: readonly string[];
  /** Services whose containers were created or started: the ones `verify` watches. */
  readonly touched: readonly string[];
}

/** A project a previous deployment left on the engine. */
export interface DeployedStack {
  readonly stackId: number;
  readonly project: string;
}

/** An engine that runs stacks. */
export interface StackEngine {
  /** Pulls, creates, recreates and removes until the engine runs `request.project`; rejects with Docker's reason. */
  deploy(request: DeployRequest): Promise<DeployOutcome>;
  /**
   * Waits `settleMs`, then says why one of the `touched` services is not running (exited,
   * restarting, unhealthy), or `undefined` when all are.
   */
  verify(request: DeployRequest, touched: readonly string[], settleMs: number): Promise<string | undefined>;
  /** Removes every container and network of `project` (volumes stay); resolves with whether anything was there. */
  remove(project: string, signal: AbortSignal): Promise<boolean>;
  /** Stacks deployed by Pier that the engine holds (labels `io.pier.edge-stack.id`). */
  deployedStacks(signal: AbortSignal): Promise<DeployedStack[]>;
}
