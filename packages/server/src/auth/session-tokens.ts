import { ServerError } from "../errors.ts";
import type { UserRole } from "../store/store.ts";
import { type Session, clockSkewSeconds, signSessionToken, verifySessionToken } from "./jwt.ts";

/**
 * Ids of session tokens that were logged out, each kept until the token would have expired
 * anyway (plus the clock skew `verifySessionToken` tolerates), in memory. The server also keeps
 * them in the store (`PersistedLogouts`), so a restart or another replica refuses them too.
 *
 * @example
 * const denied = new SessionDenyList();
 * denied.add(session.tokenId, session.expiresAt);
 * denied.has(session.tokenId); // true
 */
export class SessionDenyList {
  readonly #until = new Map<string, number>();

  /** Refuses `tokenId` until `expiresAt`. */
  add(tokenId: string, expiresAt: Date, now = Date.now()): void {
    this.#prune(now);
    this.#until.set(tokenId, expiresAt.getTime() + clockSkewSeconds * 1000);
  }

  /** Whether `tokenId` was logged out and could otherwise still be valid. */
  has(tokenId: string, now = Date.now()): boolean {
    const until = this.#until.get(tokenId);
    return until !== undefined && until > now;
  }

  /** Number of entries held (for tests). */
  get size(): number {
    return this.#until.size;
  }

  // Entries are dropped on insert, so the list never outgrows the tokens that are still alive.
  #prune(now: number): void {
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
  }
}

/** Signs, checks and revokes session tokens with one secret and one deny-list. */
export interface SessionTokens {
  /**
   * Signs a session for `user`. Issued no earlier than the user's `sessionsValidAfter`, so a
   * login in the same second as "end all sessions" is not itself refused.
   */
  issue(user: { id: number; username: string; role: UserRole; sessionsValidAfter?: Date | null }): string;
  /** Verifies the token and refuses one that was logged out (`unauthorized`). */
  verify(token: string): Session;
  /** Logs the token out: it is refused from now until it expires (here at once; elsewhere once `onRevoke` resolved). */
  revoke(token: string): Promise<void>;
}

/**
 * The server's session tokens: HS256 JWTs (see `signSessionToken`) that `revoke` (logout)
 * puts on a `SessionDenyList`, then hands to `onRevoke` (the server: `PersistedLogouts.loggedOut`).
 *
 * @example
 * const sessions = createSessionTokens(secret);
 * const jwt = sessions.issue(user);
 * await sessions.revoke(jwt);
 * sessions.verify(jwt); // throws ServerError("unauthorized")
 */
export function createSessionTokens(secret: Buffer, denied = new SessionDenyList(), onRevoke?: (tokenId: string, expiresAt: Date) => Promise<void>): SessionTokens {
  return {
    issue: (user) => {
      const now = Math.max(Date.now(), user.sessionsValidAfter?.getTime() ?? 0);
      return signSessionToken({ userId: user.id, username: user.username, role: user.role }, secret, { now: new Date(now) });
    },
    verify(token) {
      const session = verifySessionToken(token, secret);
      if (denied.has(session.tokenId)) throw new ServerError("unauthorized", "This session was logged out. Log in again.", { details: { reason: "logged_out" } });
      return session;
    },
    async revoke(token) {
      const session = verifySessionToken(token, secret);
      denied.add(session.tokenId, session.expiresAt);
      await onRevoke?.(session.tokenId, session.expiresAt);
    },
  };
}
