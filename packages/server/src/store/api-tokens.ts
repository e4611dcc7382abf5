import { isRole } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, dateOrNull, integer, millis, text } from "./row-readers.ts";
import { corrupt, isForeignKeyViolation, isUniqueViolation } from "./store-errors.ts";
import type { ApiToken, ApiTokenStore, NewApiToken } from "./store.ts";

function decodeApiToken(row: Row): ApiToken {
  const scope = text(row, "scope");
  if (!isRole(scope)) throw corrupt(`access token scope "${scope}"`);
  return {
    id: integer(row, "id"),
    userId: integer(row, "user_id"),
    description: text(row, "description"),
    tokenHash: text(row, "token_hash"),
    prefix: text(row, "prefix"),
    createdAt: new Date(integer(row, "created_at")),
    lastUsedAt: dateOrNull(row, "last_used_at"),
    scope,
    expiresAt: new Date(integer(row, "expires_at")),
  };
}

/**
 * `ApiTokenStore` on kysely (only each token's SHA-256 is stored).
 *
 * @example
 * const tokens = new SqlApiTokens(database);
 * const token = await tokens.findByHash(sha256Hex);
 */
export class SqlApiTokens implements ApiTokenStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  create(input: NewApiToken): Promise<ApiToken> {
    return this.#database.run(async (db) => {
      if (!isRole(input.scope)) throw new ServerError("bad_request", `Unknown scope "${String(input.scope)}".`, { field: "scope", fix: 'Use "admin", "operator" or "helpdesk".' });
      const values = {
        user_id: input.userId,
        description: input.description,
        token_hash: input.tokenHash,
        prefix: input.prefix,
        created_at: millis(input.createdAt ?? new Date(), "createdAt"),
        scope: input.scope,
        expires_at: millis(input.expiresAt, "expiresAt"),
      };
      try {
        return decodeApiToken(await db.insertInto("api_tokens").values(values).returningAll().executeTakeFirstOrThrow());
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new ServerError("not_found", `User ${input.userId} does not exist.`, { cause: error });
        if (isUniqueViolation(error)) throw new ServerError("conflict", "This access token is already registered.", { cause: error });
        throw error;
      }
    });
  }

  findByHash(tokenHash: string): Promise<ApiToken | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("api_tokens").selectAll().where("token_hash", "=", tokenHash).executeTakeFirst();
      return row === undefined ? null : decodeApiToken(row);
    });
  }

  touch(id: number, at: Date): Promise<void> {
    return this.#database.run(async (db) => {
      await db.updateTable("api_tokens").set({ last_used_at: millis(at, "at") }).where("id", "=", id).execute();
    });
  }

  list(filter?: { userId?: number }): Promise<ApiToken[]> {
    return this.#database.run(async (db) => {
      const userId = filter?.userId;
      const rows = await db
        .selectFrom("api_tokens")
        .selectAll()
        .$if(userId !== undefined, (query) => query.where("user_id", "=", userId ?? 0))
        .orderBy("id")
        .execute();
      return rows.map(decodeApiToken);
    });
  }

  delete(id: number): Promise<boolean> {
    return this.#database.run(async (db) => {
      const result = await db.deleteFrom("api_tokens").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }
}
