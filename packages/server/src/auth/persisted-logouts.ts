import { clockSkewSeconds } from "./jwt.ts";
import type { SessionDenyList } from "./session-tokens.ts";

/** Where logouts are kept: the store's `revoked_logins` (`Store.logins`). */
export interface LogoutRecords {
  revoke(jti: string, expiresAt: Date): Promise<void>;
  /** Those not yet expired at `now`. */
  list(now: Date): Promise<{ jti: string; expiresAt: Date }[]>;
  prune(now: Date): Promise<number>;
}

/** Options of `PersistedLogouts`. */
export interface PersistedLogoutsOptions {
  readonly records: LogoutRecords;
  /** The deny-list `verify` checks, in memory. */
  readonly denied: SessionDenyList;
  /**
   * Tells every replica (`login_revoked`); each one, this one included, calls `heard`. Absent:
   * this server adds to its deny-list itself.
   */
  readonly announce?: (logout: { jti: string; expiresAt: Date }) => Promise<void>;
}

/**
 * The logout deny-list kept in the store as well as in memory (docs/architecture.md "Logins"): a
 * logged-out token is refused on every replica at once (announced) and after a restart (loaded
 * at start, and again after a missed announcement), on SQLite too. A row is kept until its token
 * would have expired anyway, plus the clock skew `verifySessionToken` tolerates.
 *
 * @example
 * const logouts = new PersistedLogouts({ records: store.logins, denied });
 * await logouts.load();
 * const sessions = createSessionTokens(secret, denied, (jti, expiresAt) => logouts.loggedOut(jti, expiresAt));
 */
export class PersistedLogouts {
  readonly #options: PersistedLogoutsOptions;

  constructor(options: PersistedLogoutsOptions) {
    this.#options = options;
  }

  /** Deletes expired rows, then puts every logged-out token still alive on the deny-list; returns how many. */
  async load(now = new Date()): Promise<number> {
    await this.#options.records.prune(now);
    const rows = await this.#options.records.list(now);
    for (const row of rows) this.#options.denied.add(row.jti, row.expiresAt, now.getTime());
    return rows.length;
  }

  /** Records a logout (the token's id and expiry), then announces it. The store write comes first: a replica that misses the announcement still finds it. */
  async loggedOut(jti: string, expiresAt: Date): Promise<void> {
    this.#options.denied.add(jti, expiresAt);
    await this.#options.records.revoke(jti, new Date(expiresAt.getTime() + clockSkewSeconds * 1000));
    await this.#options.announce?.({ jti, expiresAt });
  }

  /** A logout announced by a replica (`login_revoked`): refused here from now on. */
  heard(jti: string, expiresAt: Date): void {
    this.#options.denied.add(jti, expiresAt);
  }
}
