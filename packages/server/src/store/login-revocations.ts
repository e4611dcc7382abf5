import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";

/** A logged-out login session: its token's `jti`, refused until the token expires. */
export interface RevokedLogin {
  jti: string;
  expiresAt: Date;
}

/** The logout deny-list, persisted so a logged-out token stays refused on every replica and after a restart. */
export interface LoginRevocationStore {
  /** Records a logout; doing it again is harmless. `bad_request` for a `jti` of more than 200 characters. */
  revoke(jti: string, expiresAt: Date): Promise<void>;
  /** Those not yet expired at `now`. */
  list(now: Date): Promise<RevokedLogin[]>;
  /** Deletes those expired at `now`; returns how many. */
  prune(now: Date): Promise<number>;
}

/** Longest `jti` kept (the server makes them: 22 characters of base64url today). */
export const maxJtiLength = 200;

function millis(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(value)) throw new ServerError("bad_request", `${field} must be a valid Date.`, { field });
  return value;
}

function decode(row: { jti: unknown; expires_at: unknown }): RevokedLogin {
  const expiresAt = typeof row.expires_at === "string" ? Number(row.expires_at) : row.expires_at;
  if (typeof row.jti !== "string" || typeof expiresAt !== "number" || !Number.isSafeInteger(expiresAt)) {
    throw new ServerError("store_failed", "The database holds an unreadable revoked login; restore a backup or remove the row from revoked_logins.");
  }
  return { jti: row.jti, expiresAt: new Date(expiresAt) };
}

/**
 * `LoginRevocationStore` on the store's database, the same queries for SQLite and PostgreSQL.
 *
 * @example
 * const logins = new SqlLoginRevocations(await openDatabase({ path: "pier.db" }));
 * await logins.revoke(session.tokenId, session.expiresAt);
 */
export class SqlLoginRevocations implements LoginRevocationStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async revoke(jti: string, expiresAt: Date): Promise<void> {
    if (typeof jti !== "string" || jti === "" || jti.length > maxJtiLength) {
      throw new ServerError("bad_request", `A login's jti must be 1 to ${maxJtiLength} characters.`, { field: "jti" });
    }
    const expires = millis(expiresAt, "expiresAt");
    return this.#database.run(async (db) => {
      await db
        .insertInto("revoked_logins")
        .values({ jti, expires_at: expires })
        .onConflict((conflict) => conflict.column("jti").doNothing())
        .execute();
    });
  }

  async list(now: Date): Promise<RevokedLogin[]> {
    const at = millis(now, "now");
    return this.#database.run(async (db) => (await db.selectFrom("revoked_logins").selectAll().where("expires_at", ">", at).orderBy("expires_at").orderBy("jti").execute()).map(decode));
  }

  async prune(now: Date): Promise<number> {
    const at = millis(now, "now");
    return this.#database.run(async (db) => Number((await db.deleteFrom("revoked_logins").where("expires_at", "<=", at).executeTakeFirst()).numDeletedRows));
  }
}
