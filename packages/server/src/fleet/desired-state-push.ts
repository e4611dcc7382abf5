import type { ClusterEvents } from "../cluster/cluster-events.ts";

/** What the push needs of this replica's edge sessions (`EdgeService`). */
export interface DesiredStatePushOptions {
  readonly events: Pick<ClusterEvents, "subscribe" | "onResync">;
  readonly edge: { notifyMany(environmentIds: readonly number[]): Promise<void>; heldSessions(): number[] };
  readonly log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

/**
 * Makes `desired_state_changed` reach the devices (docs/fleet.md "Desired state"): on every
 * replica, whichever published it, each listed environment whose session this replica holds
 * is pushed `status` with its stored `desiredStateVersion`; `[]` and a resync after missed
 * announcements push to every held session. Returns the function that stops it.
 *
 * @example
 * const stop = followDesiredStateChanges({ events, edge, log });
 * await events.publish({ type: "desired_state_changed", environmentIds: [7] }); // environment 7's session gets `status`
 */
export function followDesiredStateChanges(options: DesiredStatePushOptions): () => void {
  const { events, edge, log } = options;
  const push = async (environmentIds: readonly number[]) => {
    try {
      await edge.notifyMany(environmentIds.length === 0 ? edge.heldSessions() : environmentIds);
    } catch (error) {
      // The devices learn the version at their next welcome; nothing else is lost.
      log("warn", `could not push the new desired-state version to ${environmentIds.length === 0 ? "the sessions held here" : `environments ${environmentIds.slice(0, 10).join(", ")}${environmentIds.length > 10 ? "…" : ""}`}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const unsubscribe = events.subscribe(async (event) => {
    if (event.type === "desired_state_changed") await push(event.environmentIds);
  });
  const stopResync = events.onResync(() => push([]));
  return () => {
    stopResync();
    unsubscribe();
  };
}
