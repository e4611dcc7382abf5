import { lookup } from "node:dns/promises";
import { sleep } from "./backoff.ts";
import { dockerGet, type DockerEndpoint } from "./docker/index.ts";
import { AgentError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/**
 * In a Swarm cluster the agent runs as a global service, one task per node, and all of them share
 * one EDGE_ID: exactly one of them may speak for the cluster. It is the agent on the node that is
 * the swarm's Raft leader: Docker elects exactly one, every manager knows which, and a new one
 * takes over within seconds when it fails, so the agents need no election of their own. Workers
 * and the other managers stay silent and check again every `clusterCheckMs`.
 */
export const clusterCheckMs = 15_000;

/** Whether this agent speaks for its cluster, and why, in words for the log. */
export interface ClusterTurn {
  readonly speaks: boolean;
  readonly why: string;
}

interface SwarmInfo {
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
}

interface SwarmNode {
  Description?: { Hostname?: string };
  ManagerStatus?: { Leader?: boolean };
}

/** Asks the local Docker Engine whether its node leads the swarm. */
export async function clusterTurn(docker: DockerEndpoint, signal?: AbortSignal): Promise<ClusterTurn> {
  const { Swarm: swarm } = (await dockerGet(docker, "/info", signal)) as SwarmInfo;
  if (swarm?.LocalNodeState !== "active" || !swarm.NodeID) {
    return { speaks: true, why: `AGENT_CLUSTER_ADDR is set but this Docker Engine is not part of a swarm (state ${swarm?.LocalNodeState ?? "unknown"}): speaking for this engine alone` };
  }
  if (!swarm.ControlAvailable) return { speaks: false, why: "this node is a swarm worker: the agent on the swarm's leader speaks for the cluster" };
  const node = (await dockerGet(docker, `/nodes/${encodeURIComponent(swarm.NodeID)}`, signal)) as SwarmNode;
  const name = node.Description?.Hostname ?? swarm.NodeID;
  if (node.ManagerStatus?.Leader) return { speaks: true, why: `this node (${name}) is the swarm's leader: speaking for the cluster` };
  return { speaks: false, why: `this node (${name}) is a swarm manager but not the leader: the agent on the leader speaks for the cluster` };
}

/**
 * Tracks this agent's turn in a cluster named by AGENT_CLUSTER_ADDR, logging each change once.
 */
export class ClusterMember {
  readonly #docker: DockerEndpoint;
  readonly #address: string;
  readonly #log: Logger;
  readonly #checkMs: number;
  #last: string | undefined;

  constructor(docker: DockerEndpoint, address: string, log: Logger, checkMs = clusterCheckMs) {
    this.#docker = docker;
    this.#address = address;
    this.#log = log;
    this.#checkMs = checkMs;
  }

  /** This agent's turn now; an engine that cannot be asked means silence (another agent may speak). */
  async turn(signal: AbortSignal): Promise<ClusterTurn> {
    let turn: ClusterTurn;
    try {
      turn = await clusterTurn(this.#docker, signal);
    } catch (error) {
      if (signal.aborted) return { speaks: false, why: "stopped" };
      const reason = error instanceof AgentError ? error.message : String(error);
      turn = { speaks: false, why: `cannot tell whether this node leads the swarm, so staying silent: ${reason}` };
    }
    if (turn.why !== this.#last) {
      this.#last = turn.why;
      this.#log.log(turn.speaks ? "info" : "warn", `cluster ${this.#address}: ${turn.why}${turn.speaks ? await this.#peers() : ""}`);
    }
    return turn;
  }

  /** Resolves until it is this agent's turn to speak (or `signal` aborts). */
  async waitForTurn(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !(await this.turn(signal)).speaks) await sleep(this.#checkMs, signal);
  }

  /**
   * Aborts `session` when this agent stops being the one that speaks, checking every
   * `clusterCheckMs` until `signal` (the session's own) aborts.
   */
  async watch(session: AbortController): Promise<void> {
    const { signal } = session;
    for (;;) {
      await sleep(this.#checkMs, signal);
      if (signal.aborted) return;
      if (!(await this.turn(signal)).speaks) {
        session.abort();
        return;
      }
    }
  }

  /** The agents AGENT_CLUSTER_ADDR resolves to (Swarm's tasks.<service> name), for the log. */
  async #peers(): Promise<string> {
    try {
      const addresses = await lookup(this.#address, { all: true });
      return ` (${this.#address} resolves to ${addresses.length} agent${addresses.length === 1 ? "" : "s"})`;
    } catch {
      return ` (${this.#address} does not resolve: put the service on an overlay network and name it tasks.<service name>)`;
    }
  }
}
