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
  /** The spread window, in seconds: each session was told a delay in 1 … this. */
  readonly windowSeconds: number;
  /** Stops telling sessions that open from now on. */
  stop(): void;
}

/**
 * Ends every open session with `refused {code: "restarting", retryAfterSeconds: d}`, d drawn
 * uniformly from 1 … `restartWindowSeconds(open)` per session, so the fleet comes back at about
 * 500 devices a second rather than all at once; the agent waits exactly d (docs/protocol.md
 * "Admission control and restarts"). A session that opens afterwards (a hello that was in
 * flight) is told too, until `stop()`.
 *
 * @example
 * const notice = announceRestart(edge);
 * log("info", `told ${notice.told()} sessions to come back within ${notice.windowSeconds} s`);
 */
export function announceRestart(edge: Pick<EdgeService, "heldSessions" | "isConnected" | "disconnect" | "onSessionOpened">, random: () => number = Math.random): RestartNotice {
  const held = edge.heldSessions();
  const windowSeconds = restartWindowSeconds(held.length);
  let told = 0;
  const tell = (environmentId: number) => {
    if (!edge.isConnected(environmentId)) return;
    const delay = 1 + Math.floor(random() * windowSeconds);
    edge.disconnect(environmentId, refusedCodes.restarting, `The server is restarting; reconnect in ${delay} s.`, delay);
    told++;
  };
  for (const environmentId of held) tell(environmentId);
  // Told once its welcome is out (after attachSession returns), not from inside it.
  const stop = edge.onSessionOpened((environmentId) => setImmediate(() => tell(environmentId)));
  return { told: () => told, windowSeconds, stop };
}
