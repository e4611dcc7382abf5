import { hostname } from "node:os";
import { join } from "node:path";
import { loadOrCreateSecret } from "../auth/jwt.ts";
import { defaultServerNames, ensureBuiltInTls } from "../bootstrap/built-in-tls.ts";
import type { ServerConfig } from "../server.ts";
import type { ServerError } from "../errors.ts";
import { DiskFullNotice, freeBytesOf } from "../store/disk-full.ts";
import { openStore } from "../store/open-store.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import type { Store } from "../store/store.ts";
import { LocalClusterEvents, newReplicaId, type ClusterEvents } from "./cluster-events.ts";
import { ClusterFiles, type BootstrapOutcome } from "./cluster-files.ts";
import { PgClusterEvents } from "./pg-cluster-events.ts";
import { SecretBox, readSecretFile } from "./secret-box.ts";

/** The cluster settings of `ServerConfig` (`--database-url` and the flags that go with it). */
export type ClusterConfig = NonNullable<ServerConfig["cluster"]>;

/**
 * This server as one replica of a Pier (docs/architecture.md "Scale-out"), what the rest of the
 * server hooks into: the events bus (every change that must act at once on every replica goes
 * through it), the shared files, and where the peer channel listens. A single server on SQLite
 * is a cluster of one: a random replica id, an in-process bus, no shared files.
 */
export interface Cluster {
  /** Random per process start: a restarted replica is a new replica. */
  readonly replicaId: string;
  /** `--replica-name`, else the host name. */
  readonly replicaName: string;
  /** Whether other replicas may share the database (PostgreSQL, `--database-url`). */
  readonly replicated: boolean;
  readonly events: ClusterEvents;
  /** The shared files (`cluster_files`, sealed), on replicas only. */
  readonly files?: ClusterFiles;
  /** `--peer-bind`/`--peer-address`, on replicas only: where the peer channel listens (H7). */
  readonly peer?: { readonly host: string; readonly port: number; readonly address?: string };
  /** The secret box sealing the shared files, on replicas only (the peer CA's key is sealed with it too). */
  readonly box?: SecretBox;
  /** What `startCluster`'s bootstrap did with the shared files, on replicas only. */
  readonly bootstrap?: BootstrapOutcome;
  /**
   * The check-in time the API reports: on replicas the stored one (flushed every 2 s by the
   * replica holding the session), so every replica shows the same; on a single server the
   * freshest one in memory.
   */
  lastCheckIn(memory: (environmentId: number, stored: Date | null) => Date | null): (environmentId: number, stored: Date | null) => Date | null;
  /** Stops the bus. */
  close(): Promise<void>;
}

/**
 * The server's store: PostgreSQL at `--database-url` on a replica, else SQLite in
 * `DATA/pier.db` as a single server always had.
 *
 * @example
 * const store = await openServerStore(config);
 */
export function openServerStore(config: Pick<ServerConfig, "cluster" | "dataDir" | "log">, onReachableAgain?: () => void): Promise<Store> {
  // Checkpoints on a worker thread: a checkpoint inside a heartbeat flush's commit blocked the event loop 15-70 ms.
  // On PostgreSQL the store says in the log, once per outage, that the database cannot be reached,
  // and calls onReachableAgain when it answers again.
  // A full disk is said once, and once when there is room again (store/disk-full.ts).
  const disk = new DiskFullNotice({ log: config.log, ...(config.cluster ? {} : { freeBytes: () => freeBytesOf(config.dataDir) }) });
  const onDiskFull = (error: ServerError) => disk.report(error);
  return config.cluster ? openStore({ url: config.cluster.databaseUrl }, { log: config.log, onDiskFull, ...(onReachableAgain === undefined ? {} : { onReachableAgain }) }) : SqliteStore.open(join(config.dataDir, "pier.db"), { backgroundCheckpoints: {}, onDiskFull });
}

/**
 * Starts this server's part of the cluster, between opening the store and loading TLS: on a
 * replica it reads `--secret-file` (refused before anything else if unusable), starts listening
 * for the other replicas' events, and bootstraps the shared files (`ClusterFiles.bootstrap`: the
 * built-in CA, the server key and the JWT secret written to `--data` from the database, or
 * created here, once cluster-wide, and stored sealed), so the file-based code that follows finds
 * them as on a single server.
 *
 * @example
 * const store = await openServerStore(config);
 * const cluster = await startCluster(config, store);
 * const tls = await ServerTls.load(config);
 */
export async function startCluster(config: ServerConfig, store: Store): Promise<Cluster> {
  const replicaId = newReplicaId();
  const replicaName = config.cluster?.replicaName ?? hostname();
  if (!config.cluster) {
    const events = new LocalClusterEvents(replicaId, { log: config.log });
    return { replicaId, replicaName, replicated: false, events, lastCheckIn: (memory) => memory, close: () => events.close() };
  }
  const settings = config.cluster;
  const box = new SecretBox(readSecretFile(settings.secretFile));
  const events = await PgClusterEvents.start({ url: settings.databaseUrl, replicaId, log: config.log });
  try {
    const files = new ClusterFiles({ store: store.cluster, box, dataDir: config.dataDir, events, log: config.log });
    const bootstrap = await files.bootstrap(async () => {
      // What ServerTls.load and the JWT set-up would create on a single server's first start.
      if (!config.ssl?.certPath) await ensureBuiltInTls(config.dataDir, defaultServerNames([config.bindHost]));
      loadOrCreateSecret(join(config.dataDir, "secrets", "jwt.key"));
    });
    // The uploaded mTLS set as the cluster has it (uploaded, replaced or removed while this replica was away).
    await files.materialize("mtls/");
    config.log("info", `cluster: replica ${replicaName} (${replicaId}) joined; shared files ${bootstrap === "created" ? "created by this replica" : "taken from the database"}`);
    return {
      replicaId,
      replicaName,
      replicated: true,
      events,
      files,
      box,
      bootstrap,
      peer: { host: settings.peerHost, port: settings.peerPort, ...(settings.peerAddress === undefined ? {} : { address: settings.peerAddress }) },
      lastCheckIn: () => (_environmentId, stored) => stored,
      close: () => events.close(),
    };
  } catch (error) {
    await events.close();
    throw error;
  }
}
