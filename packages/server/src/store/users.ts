import { sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, integer, millis, text } from "./row-readers.ts";
import { corrupt, isUniqueViolation } from "./store-errors.ts";
import type { NewUser, User, UserStore } from "./store.ts";

function decodeUser(row: Row): User {
  const role = text(row, "role");
  if (role !== "admin") throw corrupt(`user role "${role}"`);
  return { id: integer(row, "id"), username: text(row, "username"), passwordHash: text(row, "password_hash"), role, createdAt: new Date(integer(row, "created_at")) };
}

// Any constant shared by every Pier: the first-user insert of replicas starting together.
const firstUserLockKey = 0x7069_6575; // "pieu"

/**
 * `UserStore` on kysely. Names are unique case-insensitively: SQLite's column is `COLLATE
 * NOCASE`, PostgreSQL has a unique index on `lower(username)`, and lookups compare `lower()`.
 *
 * @example
 * const users = new SqlUsers(database);
 * const admin = await users.createFirst({ username: "admin", passwordHash });
 */
export class SqlUsers implements UserStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  create(input: NewUser): Promise<User> {
    return this.#database.run(async (db) => {
      const values = this.#values(input);
      try {
        return decodeUser(await db.insertInto("users").values(values).returningAll().executeTakeFirstOrThrow());
      } catch (error) {
        throw this.#taken(input, error);
      }
    });
  }

  /**
   * Inserts the first user while there is none, in one transaction: SQLite's BEGIN IMMEDIATE
   * holds the write lock across the count and the insert; PostgreSQL's READ COMMITTED would let
   * two transactions both count zero, so they first take one advisory lock (issue 16, issue 18).
   */
  createFirst(input: NewUser): Promise<User | null> {
    return this.#database.run(async (db) => {
      const values = this.#values(input);
      return db.transaction().execute(async (trx) => {
        if (this.#database.dialect === "postgres") await sql`SELECT pg_advisory_xact_lock(${sql.lit(firstUserLockKey)})`.execute(trx);
        const existing = await trx.selectFrom("users").select("id").limit(1).executeTakeFirst();
        if (existing !== undefined) return null;
        try {
          return decodeUser(await trx.insertInto("users").values(values).returningAll().executeTakeFirstOrThrow());
        } catch (error) {
          throw this.#taken(input, error);
        }
      });
    });
  }

  setPasswordHash(id: number, passwordHash: string): Promise<boolean> {
    return this.#database.run(async (db) => {
      const result = await db.updateTable("users").set({ password_hash: passwordHash }).where("id", "=", id).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  get(id: number): Promise<User | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : decodeUser(row);
    });
  }

  getByUsername(username: string): Promise<User | null> {
    return this.#database.run(async (db) => {
      const row = await db
        .selectFrom("users")
        .selectAll()
        .where(sql<string>`lower(username)`, "=", sql<string>`lower(${username})`)
        .executeTakeFirst();
      return row === undefined ? null : decodeUser(row);
    });
  }

  count(): Promise<number> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
      return integer(row, "count");
    });
  }

  #values(input: NewUser) {
    const role = input.role ?? "admin";
    if (role !== "admin") throw new ServerError("bad_request", 'User role must be "admin".', { field: "role" });
    if (typeof input.username !== "string" || input.username.trim() === "") throw new ServerError("bad_request", "User name must be a non-empty string.", { field: "username" });
    return { username: input.username, password_hash: input.passwordHash, role, created_at: millis(input.createdAt ?? new Date(), "createdAt") };
  }

  #taken(input: NewUser, error: unknown): unknown {
    return isUniqueViolation(error) ? new ServerError("conflict", `A user named "${input.username}" already exists.`, { cause: error }) : error;
  }
}
