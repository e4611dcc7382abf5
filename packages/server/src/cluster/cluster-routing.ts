import { hostname } from "node:os";
import { isIP } from "node:net";
import type { EdgeService } from "../edge/edge-service.ts";
import type { TunnelBroker } from "../edge/tunnel-broker.ts";
import { defaultTrustDomain } from "../identity/device-ca.ts";
import type { ClusterStore } from "../store/cluster-store.ts";
import type { Store } from "../store/store.ts";
import { ClusterTunnels } from "./cluster-tunnels.ts";
import { PeerCa, type PeerCaVault } from "./peer-ca.ts";
import { PeerClient } from "./peer-client.ts";
import { PeerIdentity } from "./peer-identity.ts";
import { PeerServer } from "./peer-server.ts";
import { ReplicaRegistry, type ReplicaTiming } from "./replica-registry.ts";
import type { ClusterFiles } from "./cluster-files.ts";
import { SessionDirectory } from "./session-directory.ts";

/** What routing between replicas needs (H5's cluster start-up passes it). */
export interface ClusterRoutingOptions {
  readonly store: Pick<Store, "settings"> & { readonly cluster: ClusterStore };
  /** The cluster's shared files (`cluster_files`, sealed), where the peer CA is kept. */
  readonly files: Pick<ClusterFiles, "read" | "write" | "withLock">;
  readonly replicaId: string;
  /** `--replica-name` (default the host name). */
  readonly replicaName?: string;
  /** `--peer-bind`. */
  readonly peerHost: string;
  readonly peerPort: number;
  /** `--peer-address` (default: the bound host when it is a specific address, else the host name; with the bound port). */
  readonly peerAddress?: string;
  readonly edge: Pick<EdgeService, "isConnected" | "onSessionOpened" | "onSessionClosed">;
  readonly tunnels: Pick<TunnelBroker, "open">;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
  /** The replica rows' timing (tests shorten it); default `replicaTiming`. */
  readonly timing?: Partial<ReplicaTiming>;
}

/** Routing between replicas, running. */
export interface ClusterRouting {
  /** Tunnels to any device of the cluster (the Docker proxy's `tunnels` and `isReachable`). */
  readonly tunnels: ClusterTunnels;
  /** Where the other replicas reach this one. */
  readonly peerAddress: string;
  readonly registry: ReplicaRegistry;
  readonly directory: SessionDirectory;
  /** Stops the peer listener and client and the registry; waits for pending directory writes. Call after the edge sessions closed, before the store closes. */
  close(): Promise<void>;
}

/** The peer CA's files among the cluster's shared files, created under the lock "peer-ca". */
function peerCaVault(files: ClusterRoutingOptions["files"]): PeerCaVault {
  return { read: (name) => files.read(name), write: (written) => files.write(written), withLock: (fn) => files.withLock("peer-ca", fn) };
}

/** `host:port`, bracketing an IPv6 host. */
function joinAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Starts routing between replicas (docs/architecture.md "Session ownership", "Reaching a device
 * on another replica"): the peer CA (created once), this replica's peer certificate, the peer
 * listener on `--peer-bind`, this replica's row in `replicas`, and the session directory.
 * Only in cluster mode: a single server opens no peer port.
 *
 * @example
 * const routing = await startClusterRouting({ store, files, replicaId, peerHost: "0.0.0.0", peerPort: 9445, edge, tunnels, log });
 * const docker = createDockerProxy({ ..., tunnels: routing.tunnels, isReachable: (id) => routing.tunnels.isReachable(id) });
 */
export async function startClusterRouting(options: ClusterRoutingOptions): Promise<ClusterRouting> {
  const { store, edge, log } = options;
  const ca = await PeerCa.openOrCreate(peerCaVault(options.files));
  const wildcard = options.peerHost === "0.0.0.0" || options.peerHost === "::" || options.peerHost === "";
  const advertisedHost = (address: string | undefined) => address ?? joinAddress(wildcard ? hostname() : options.peerHost, options.peerPort);
  const trustDomain = (await store.settings.get()).trustDomain ?? defaultTrustDomain;
  // The certificate names the host (its port does not matter to TLS); the address is final once bound.
  const identity = await PeerIdentity.start({ ca, replicaId: options.replicaId, peerAddress: advertisedHost(options.peerAddress), trustDomain, log });
  const server = new PeerServer({ credentials: identity.current, isLocal: (id) => edge.isConnected(id), openLocal: (id, open) => options.tunnels.open(id, open), log });
  identity.onChange((credentials) => server.setCredentials(credentials));
  const bound = await server.listen(options.peerPort, options.peerHost);
  const peerAddress = options.peerAddress ?? joinAddress(wildcard ? hostname() : options.peerHost, bound.port);
  const client = new PeerClient({ credentials: () => identity.current, log });
  const registry: ReplicaRegistry = new ReplicaRegistry({
    store: store.cluster,
    self: { id: options.replicaId, name: options.replicaName ?? hostname(), peerAddress },
    log,
    ...(options.timing ? { timing: options.timing } : {}),
    // Ticks begin after start(), by which time the directory exists.
    onTick: () => directory.reassert(),
  });
  const directory: SessionDirectory = new SessionDirectory({ store: store.cluster, registry, isLocal: (id) => edge.isConnected(id), log });
  try {
    await registry.start();
  } catch (error) {
    identity.close();
    await server.close();
    throw error;
  }
  const detach = directory.attach(edge);
  const tunnels = new ClusterTunnels({ local: options.tunnels, isLocal: (id) => edge.isConnected(id), cluster: { directory, peers: client } });
  log("info", `peer channel: replica ${registry.self.name} (${options.replicaId}) listens on ${joinAddress(bound.address, bound.port)}, reached at ${peerAddress}`);
  return {
    tunnels,
    peerAddress,
    registry,
    directory,
    async close() {
      detach();
      identity.close();
      client.close();
      await server.close();
      await registry.stop();
      await directory.close();
    },
  };
}
