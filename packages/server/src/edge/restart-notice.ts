import { refusedCodes } from "@pier/protocol";
import type { EdgeService } from "./edge-service.ts";

/**
 * Reconnects per second the admission path (handshake and hello gates) takes comfortably on
 * the reference box (2 cores): a graceful restart spreads its sessions' return at this pace.
 */
export const restartReconnectsPerSecond = 500;
/** The longest delay a restart hint asks for: an agent's own backoff cap. */
export const maxRestartSpreadSeconds = 60;

/**
 * The window a restart spreads `openSessions` reconnects over: ceil(open / 500) s, 1 s to 60 s.
 *
 * @example
 * restartWindowSeconds(15_000); // 30
 */
export function restartWindowSeconds(openSessions: number): number {
  return Math.min(maxRestartSpreadSeconds, Math.max(1, Math.ceil(openSessions / restartReconnectsPerSecond)));
}

/** What `announceRestart` told. */
export interface RestartNotice {
  /** Sessions told so far (those open at the announcement, and any opened since). */
  readonly told: () => number;
  /** The shortest delay told, in seconds. */
  readonly earliestSeconds: number;
  /** The spread window, in seconds: each session was told a delay in `earliestSeconds` … + this − 1. */
  readonly windowSeconds: number;
  /** Stops telling sessions that open from now on. */
  stop(): void;
}

/**
 * Ends every open session with `refused {code: "restarting", retryAfterSeconds: d}`, d drawn
 * uniformly from `earliestSeconds` … `earliestSeconds + restartWindowSeconds(open) − 1` per
 * session (at most 60), so the fleet comes back at about 500 devices a second rather than all at
 * once, and not before the server can be back (`earliestSeconds`: the drain and a start-up);
 * the agent waits exactly d (docs/protocol.md "Admission control and restarts"). A session that
 * opens afterwards (a hello that was in flight) is told too, until `stop()`.
 *
 * @example
 * const notice = announceRestart(edge, { earliestSeconds: 7 });
 * log("info", `told ${notice.told()} sessions to come back within ${notice.earliestSeconds}–${notice.earliestSeconds + notice.windowSeconds - 1} s`);
 */
export function announceRestart(
  edge: Pick<EdgeService, "heldSessions" | "isConnected" | "disconnect" | "onSessionOpened">,
  options: { readonly earliestSeconds?: number; readonly random?: () => number } = {},
): RestartNotice {
  const random = options.random ?? Math.random;
  const held = edge.heldSessions();
  const earliestSeconds = Math.min(maxRestartSpreadSeconds, Math.max(1, Math.ceil(options.earliestSeconds ?? 1)));
  const windowSeconds = Math.min(restartWindowSeconds(held.length), maxRestartSpreadSeconds - earliestSeconds + 1);
  let told = 0;
  const tell = (environmentId: number) => {
    if (!edge.isConnected(environmentId)) return;
    const delay = earliestSeconds + Math.floor(random() * windowSeconds);
    edge.disconnect(environmentId, refusedCodes.restarting, `The server is restarting; reconnect in ${delay} s.`, delay);
    told++;
  };
  for (const environmentId of held) tell(environmentId);
  // Told once its welcome is out (after attachSession returns), not from inside it.
  const stop = edge.onSessionOpened((environmentId) => setImmediate(() => tell(environmentId)));
  return { told: () => told, earliestSeconds, windowSeconds, stop };
}
