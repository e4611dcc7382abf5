import type { ClusterEvents } from "../cluster/cluster-events.ts";
import type { EdgeService } from "../edge/edge-service.ts";
import type { Store } from "../store/store.ts";
import type { FleetChanges } from "./fleet-contracts.ts";

/**
 * The fleet services the API and the edge routes use (docs/fleet.md). Each fleet part adds its
 * service here and builds it in `createFleetServices`.
 */
export interface FleetServices {
  /** Recomputes, stores and announces the desired state of environments after a write. */
  readonly changes: FleetChanges;
}

/** What the fleet services are built from. */
export interface FleetRuntimeOptions {
  readonly store: Store;
  readonly events: Pick<ClusterEvents, "publish" | "subscribe">;
  readonly edge: EdgeService;
  /** The server's data directory (single server: where sealed secrets' key lives). */
  readonly dataDir: string;
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * Builds the fleet services for one server (or replica).
 *
 * @example
 * const fleet = createFleetServices({ store, events, edge, dataDir, log });
 * await fleet.changes.changed([environmentId]);
 */
export function createFleetServices(options: FleetRuntimeOptions): FleetServices {
  void options;
  // Replaced by the desired-state service (H3): until then nothing is pushed.
  const changes: FleetChanges = { changed: () => Promise.resolve() };
  return { changes };
}
