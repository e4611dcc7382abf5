import type { Duplex } from "node:stream";
import type { OpenTunnelOptions, TunnelBroker } from "../edge/tunnel-broker.ts";
import { ServerError } from "../errors.ts";
import { PeerUnreachable, type PeerClient } from "./peer-client.ts";
import type { SessionDirectory, SessionHolder } from "./session-directory.ts";

/** Opens a byte pipe to a device's Docker Engine (docs/protocol.md "Docker snapshot and tunnel"). */
export interface TunnelOpener {
  open(environmentId: number, options?: OpenTunnelOptions): Promise<Duplex>;
}

/** What `ClusterTunnels` routes between. */
export interface ClusterTunnelsOptions {
  /** This replica's broker, over the sessions it holds. */
  readonly local: Pick<TunnelBroker, "open">;
  /** True while this replica holds the environment's session. */
  readonly isLocal: (environmentId: number) => boolean;
  /** Who holds the other sessions, and the channel to them; both absent on a single server. */
  readonly cluster?: {
    readonly directory: Pick<SessionDirectory, "ownerOf">;
    readonly peers: Pick<PeerClient, "openTunnel">;
  };
}

/** How much longer than the device's own wait the calling replica waits for the owner's answer. */
const peerSlackMs = 5_000;

/**
 * How long `open` reuses a holder read from the database: a Docker call asks `isReachable` (which
 * always reads) and then `open`. A stale holder costs one 404 from it and a fresh read.
 */
const holderTtlMs = 2_000;
/** Most holders remembered; past it the memory starts over. */
const holderCacheSize = 10_000;

/**
 * Tunnels to any device of the cluster (docs/architecture.md "Reaching a device on another
 * replica"): through this replica's broker when it holds the session, else through the owning
 * replica over the peer channel, whose stream is used exactly like a local tunnel.
 *
 * @example
 * const tunnels = new ClusterTunnels({ local: broker, isLocal: (id) => edge.isConnected(id), cluster: { directory, peers } });
 * if (await tunnels.isReachable(7)) await tunnels.open(7);
 */
export class ClusterTunnels implements TunnelOpener {
  readonly #options: ClusterTunnelsOptions;
  /** Other replicas' sessions recently read from the directory (never "no holder": a device may connect at any moment). */
  readonly #holders = new Map<number, { readonly holder: SessionHolder; readonly at: number }>();

  constructor(options: ClusterTunnelsOptions) {
    this.#options = options;
  }

  /** True when some replica (this one or another, alive or not) holds the device's session. */
  async isReachable(environmentId: number): Promise<boolean> {
    if (this.#options.isLocal(environmentId)) return true;
    return (await this.#holder(environmentId, "fresh")) != null;
  }

  async #holder(environmentId: number, mode: "cached" | "fresh"): Promise<SessionHolder | null> {
    const { cluster } = this.#options;
    if (!cluster) return null;
    const known = this.#holders.get(environmentId);
    if (mode === "cached" && known && Date.now() - known.at < holderTtlMs) return known.holder;
    const holder = await cluster.directory.ownerOf(environmentId);
    if (holder && !holder.local) {
      if (this.#holders.size >= holderCacheSize) this.#holders.clear();
      this.#holders.set(environmentId, { holder, at: Date.now() });
    } else this.#holders.delete(environmentId);
    return holder;
  }

  /**
   * Resolves with a tunnel to the device. Rejects with `unavailable` when no replica holds its
   * session, when the holding replica is dead or does not answer (naming it), or with the
   * owner's own refusal.
   */
  async open(environmentId: number, options: OpenTunnelOptions = {}): Promise<Duplex> {
    const { cluster } = this.#options;
    if (this.#options.isLocal(environmentId) || !cluster) return this.#options.local.open(environmentId, options);
    let holder = await this.#holder(environmentId, "cached");
    // One more look when the owner says the session left: it may have moved (a reconnect).
    for (let attempt = 0; ; attempt++) {
      if (!holder || holder.local) return this.#options.local.open(environmentId, options);
      if (!holder.alive) throw unanswered(environmentId, holder, `it has not been seen since ${holder.replica.seenAt.toISOString()}`);
      try {
        return await cluster.peers.openTunnel(holder.replica, environmentId, {
          ...(options.signal ? { signal: options.signal } : {}),
          timeoutMs: (options.timeoutMs ?? 5_000) + peerSlackMs,
        });
      } catch (error) {
        this.#holders.delete(environmentId);
        if (error instanceof PeerUnreachable) throw unanswered(environmentId, holder, error.message);
        if (!(error instanceof ServerError && error.code === "not_found") || attempt > 0) throw error;
      }
      const again = await this.#holder(environmentId, "fresh");
      if (again && !again.local && again.replica.id === holder.replica.id) {
        throw new ServerError("unavailable", `Environment ${environmentId} has no open edge session, so no tunnel can be opened; the device is offline or polling.`);
      }
      holder = again;
    }
  }
}

function unanswered(environmentId: number, holder: SessionHolder, why: string): ServerError {
  const { replica } = holder;
  return new ServerError("unavailable", `The device's session (environment ${environmentId}) is on replica ${replica.name} (${replica.peerAddress}), which does not answer: ${why}.`, {
    fix: "Retry in a few seconds: the device reconnects to a live replica through the load balancer. If it persists, check that replica and that the replicas reach each other on the peer port (--peer-address).",
    details: { replica: replica.name, replicaId: replica.id, peerAddress: replica.peerAddress },
  });
}
