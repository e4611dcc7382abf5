import type { Http2Session } from "node:http2";

/** How often a peer connection is checked, and how long an answer may take (docs/protocol.md "Peer channel between replicas"). */
export interface PeerKeepalive {
  /** An HTTP/2 PING this often, and TCP keepalive probes after this much idleness (default 10 s). */
  readonly intervalMs: number;
  /** A PING unanswered for this long closes the connection and its tunnels (default 5 s). */
  readonly timeoutMs: number;
}

export const peerKeepalive: PeerKeepalive = { intervalMs: 10_000, timeoutMs: 5_000 };

/** Why a peer connection was closed by the keepalive (streams on it end with `ERR_HTTP2_STREAM_CANCEL` naming it). */
export class PeerSilent extends Error {
  override readonly name = "PeerSilent";
}

/**
 * Keeps a peer connection honest (its TCP keepalive is set where the socket is made: HTTP/2
 * hides it afterwards): an HTTP/2 PING every
 * `intervalMs`; a PING not answered within `timeoutMs` destroys the session with a `PeerSilent`
 * error saying so (every tunnel on it ends with that error), so a replica that stopped answering
 * (frozen, cut off) is noticed within `intervalMs + timeoutMs`, not at the TCP timeout. Stops by
 * itself when the session closes.
 *
 * @example
 * keepPeerAlive(session, "peer channel to replica b (10.0.0.2:9445)", peerKeepalive, log);
 */
export function keepPeerAlive(session: Http2Session, what: string, timing: PeerKeepalive, log: (level: "warn", message: string) => void): void {
  let waiting: NodeJS.Timeout | undefined;
  const ticker = setInterval(() => {
    if (session.closed || session.destroyed || waiting || session.connecting) return;
    waiting = setTimeout(() => {
      const message = `${what}: no answer to a keepalive PING within ${timing.timeoutMs / 1000} s; closing the connection and its tunnels`;
      log("warn", message);
      session.destroy(new PeerSilent(message));
    }, timing.timeoutMs);
    waiting.unref();
    try {
      session.ping((error) => {
        // An error here means the session is going away; its own close handles that.
        if (!error) {
          clearTimeout(waiting);
          waiting = undefined;
        }
      });
    } catch {
      // Pinging a session being closed throws: nothing to check any more.
      clearTimeout(waiting);
      waiting = undefined;
    }
  }, timing.intervalMs);
  ticker.unref();
  session.once("close", () => {
    clearInterval(ticker);
    clearTimeout(waiting);
  });
}
