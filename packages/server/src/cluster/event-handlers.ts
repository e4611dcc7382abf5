import type { CertificateAuthority } from "@pier/pki";
import type { ClusterEvent, ClusterEvents } from "./cluster-events.ts";

/** What the handlers act on: this replica's sessions, tunnels, check-ins, revoked set, deny-list, settings and TLS. */
export interface ClusterEventHandlerOptions {
  readonly events: ClusterEvents;
  /** This replica's edge sessions (`EdgeService`). */
  readonly edge: {
    disconnect(environmentId: number, code: string, message: string): void;
    isConnected(environmentId: number): boolean;
    notifyChanged(environmentId: number): Promise<void>;
    notifyAll(): Promise<void>;
    replacedElsewhere(environmentId: number, by: { sourceAddress: string; replica: string; openedAt?: number }): boolean;
    onSessionOpened(listener: (environmentId: number, sourceAddress: string, openedAt: number) => void): () => void;
  };
  /** This replica's Docker tunnels (`TunnelBroker`). */
  readonly tunnels: { closeEnvironment(environmentId: number, reason: string): number };
  /** Check-ins held in memory (`HeartbeatRegistry`). */
  readonly heartbeats: { forget(environmentId: number): void };
  /** Revocation (`DeviceRevocation`); absent: nothing to apply (tests of other concerns). */
  readonly revocation?: {
    applyAnnounced(revoked: { serial: string }): Promise<void>;
    load(authorities: readonly CertificateAuthority[]): Promise<number>;
  };
  /** The device CAs this replica trusts (`DeviceCa.trusted`), whose own records a resync reloads too. */
  readonly authorities: () => readonly CertificateAuthority[];
  /** The logout deny-list (`PersistedLogouts`). */
  readonly logouts: { heard(jti: string, expiresAt: Date): void; load(): Promise<number> };
  /** The global check-in interval in force (`store.settings.get()`), read fresh each time. */
  readonly checkinInterval: () => Promise<number>;
  /**
   * The uploaded mTLS set (`ServerTls.followUpload` after the cluster files wrote `mtls/` to
   * `DATA/mtls/`); absent on a single server, where nothing else changes it.
   */
  readonly followMtls?: () => Promise<unknown>;
  /**
   * The built-in CA's rotation (`CaRotation.follow`: the phase from `pki_rotation`, the new CA
   * from the cluster files); absent without a built-in CA or on a single server.
   */
  readonly followRotation?: () => Promise<void>;
  /**
   * Which replica holds an environment's session (`edge_sessions`), and whether the environment
   * still exists: after a resync, sessions another replica took over or whose device was removed
   * end here. Absent on a single server.
   */
  readonly sessions?: {
    held(): readonly number[];
    ownerOf(environmentId: number): Promise<{ replicaId: string; openedAt: Date } | null>;
    exists(environmentId: number): Promise<boolean>;
  };
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** What a removed device's session and tunnels are told. */
export const removedMessage = "This device was removed by an administrator; it must be added again to reconnect.";

/**
 * What a request that changed an environment does (association, interval, name): tells this
 * replica's session and issues a pending certificate (`EdgeService.notifyChanged`, whose failure
 * fails the request), then announces `environment_changed` to the replica holding the session.
 *
 * @example
 * await announceEnvironmentChange(deps, environment.id);
 */
export async function announceEnvironmentChange(deps: { edge: { notifyChanged(environmentId: number): Promise<void> }; events: Pick<ClusterEvents, "publish"> }, environmentId: number): Promise<void> {
  await deps.edge.notifyChanged(environmentId);
  await deps.events.publish({ type: "environment_changed", environmentId });
}

/**
 * `ClusterEventHandlerOptions.sessions` on a replica: the sessions this one holds, who holds
 * each in `edge_sessions`, and whether the environment still exists.
 *
 * @example
 * await handleClusterEvents({ ...options, sessions: replicaSessions(store, edge) });
 */
export function replicaSessions(
  store: { cluster: { sessionOwner(environmentId: number): Promise<{ replicaId: string; openedAt: Date } | null> }; environments: { get(environmentId: number): Promise<unknown> } },
  edge: { heldSessions(): number[] },
): NonNullable<ClusterEventHandlerOptions["sessions"]> {
  return {
    held: () => edge.heldSessions(),
    ownerOf: (environmentId) => store.cluster.sessionOwner(environmentId),
    exists: async (environmentId) => (await store.environments.get(environmentId)) !== null,
  };
}

/** The prefix of the uploaded mTLS set in the cluster files. */
const mtlsPrefix = "mtls/";

/**
 * Makes every change that must act at once on every replica (docs/architecture.md "Announced
 * between replicas") act on this one, whichever replica made it: the publisher's own handlers
 * run the same code at once (`ClusterEvents.publish`), so a single server (in-process bus) and a
 * replica (PostgreSQL LISTEN/NOTIFY) take one path. Also announces each session that opens here
 * (`session_opened`), and after a missed announcement (`onResync`) reloads what an event could
 * have said. Returns the function that stops it all.
 *
 * @example
 * const stop = await handleClusterEvents({ events, edge, tunnels, heartbeats, revocation, authorities, logouts, checkinInterval, log });
 * await events.publish({ type: "environment_removed", environmentId: 7 }); // ends its session on every replica
 */
export async function handleClusterEvents(options: ClusterEventHandlerOptions): Promise<() => void> {
  const { events, edge, log } = options;
  const me = events.replicaId;
  // The interval sessions were last told: a settings change that leaves it alone pushes nothing.
  let interval = await options.checkinInterval();

  const followInterval = async () => {
    const current = await options.checkinInterval();
    if (current === interval) return;
    interval = current;
    await edge.notifyAll();
  };

  const handle = async (event: ClusterEvent, origin: string): Promise<void> => {
    switch (event.type) {
      case "environment_removed":
        edge.disconnect(event.environmentId, "removed", removedMessage);
        options.tunnels.closeEnvironment(event.environmentId, removedMessage);
        options.heartbeats.forget(event.environmentId);
        return;
      case "environment_changed":
        // The replica that made the change told its session and issued a pending certificate
        // (online or not) before announcing it, failing the request if that failed
        // (`announceEnvironmentChange`); the others tell a session they hold.
        if (origin !== me && edge.isConnected(event.environmentId)) await edge.notifyChanged(event.environmentId);
        return;
      case "certificate_revoked":
        await options.revocation?.applyAnnounced({ serial: event.serial });
        return;
      case "settings_changed":
        await followInterval();
        return;
      case "login_revoked":
        options.logouts.heard(event.jti, new Date(event.expiresAt));
        return;
      case "rotation_changed":
        // The replica that rotated applied it before announcing it.
        if (origin !== me) await options.followRotation?.();
        return;
      case "files_changed":
        // The publisher applied its own upload before announcing it.
        if (origin !== me && options.followMtls && (event.prefix.startsWith(mtlsPrefix) || mtlsPrefix.startsWith(event.prefix))) await options.followMtls();
        return;
      case "session_opened":
        // A replacement on this replica was handled when the new session attached. Only an older
        // session ends: an announcement may arrive after a newer session opened here (the
        // replicas' clocks are assumed NTP-close; two opens within the skew may both end).
        if (event.replicaId !== me) edge.replacedElsewhere(event.environmentId, { sourceAddress: event.sourceAddress, replica: event.replicaId, openedAt: event.openedAt });
        return;
      case "desired_state_changed":
        // Pushed by the fleet's own subscriber (fleet/desired-state-push.ts).
        return;
      default: {
        const unknown: never = event;
        log("warn", `cluster event ${(unknown as { type: string }).type} from replica ${origin} is not known here`);
      }
    }
  };

  const resync = async (): Promise<void> => {
    const steps: [string, () => Promise<unknown>][] = [
      ["revoked certificates", async () => options.revocation?.load(options.authorities())],
      ["logged-out sessions", () => options.logouts.load()],
      ["check-in interval", followInterval],
      ["uploaded mTLS certificates", async () => options.followMtls?.()],
      ["CA rotation", async () => options.followRotation?.()],
      ["sessions", takenOver],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        log("error", `cluster resync: could not reload the ${what}: ${(error as Error).message}`);
      }
    }
    log("info", "cluster resync: revocations, logouts, settings, mTLS certificates and sessions reloaded after the events channel came back");
  };

  // Sessions another replica took over, or whose environment was removed, while this replica heard nothing.
  const takenOver = async (): Promise<void> => {
    const sessions = options.sessions;
    if (!sessions) return;
    for (const environmentId of sessions.held()) {
      if (!(await sessions.exists(environmentId))) {
        await handle({ type: "environment_removed", environmentId }, me);
        continue;
      }
      const owner = await sessions.ownerOf(environmentId);
      if (owner !== null && owner.replicaId !== me) edge.replacedElsewhere(environmentId, { sourceAddress: "another connection", replica: owner.replicaId, openedAt: owner.openedAt.getTime() });
    }
  };

  const unsubscribe = events.subscribe(handle);
  const stopResync = events.onResync(resync);
  const stopAnnouncing = edge.onSessionOpened((environmentId, sourceAddress, openedAt) => {
    events.publish({ type: "session_opened", environmentId, replicaId: me, sourceAddress, openedAt }).catch((error: unknown) => {
      log("warn", `could not tell the other replicas that environment ${environmentId}'s session opened here: ${(error as Error).message}`);
    });
  });
  return () => {
    stopAnnouncing();
    stopResync();
    unsubscribe();
  };
}
