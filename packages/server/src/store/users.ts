import { type Transaction, sql } from "kysely";
import { isRole } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import type { Database } from "./schema.ts";
import { type Row, dateOrNull, integer, millis, text } from "./row-readers.ts";
import { corrupt, isUniqueViolation } from "./store-errors.ts";
import type { NewUser, User, UserStore } from "./store.ts";

function decodeUser(row: Row): User {
  const role = text(row, "role");
  if (!isRole(role)) throw corrupt(`user role "${role}"`);
  return {
    id: integer(row, "id"),
    username: text(row, "username"),
    passwordHash: text(row, "password_hash"),
    role,
    createdAt: new Date(integer(row, "created_at")),
    sessionsValidAfter: dateOrNull(row, "sessions_valid_after"),
  };
}

// Any constant shared by every Pier: the first-user insert of replicas starting together, and
// changes that could leave no administrator (two admins demoting each other at once).
const firstUserLockKey = 0x7069_6575; // "pieu"

const lastAdministrator = (id: number) =>
  new ServerError("conflict", `User ${id} is the last administrator; Pier needs at least one.`, { fix: "Make another user an administrator first." });

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

  list(): Promise<User[]> {
    return this.#database.run(async (db) => (await db.selectFrom("users").selectAll().orderBy("id").execute()).map(decodeUser));
  }

  async setRole(id: number, role: User["role"]): Promise<User | null> {
    if (!isRole(role)) throw new ServerError("bad_request", `Unknown role "${String(role)}".`, { field: "role", fix: 'Use "admin", "operator" or "helpdesk".' });
    return this.#adminGuarded(async (trx) => {
      const before = await trx.selectFrom("users").select("role").where("id", "=", id).executeTakeFirst();
      if (before === undefined) return null;
      if (before.role === "admin" && role !== "admin" && (await this.#otherAdmins(trx, id)) === 0) throw lastAdministrator(id);
      return decodeUser(await trx.updateTable("users").set({ role }).where("id", "=", id).returningAll().executeTakeFirstOrThrow());
    });
  }

  endSessions(id: number, at: Date): Promise<boolean> {
    return this.#database.run(async (db) => {
      const result = await db.updateTable("users").set({ sessions_valid_after: millis(at, "at") }).where("id", "=", id).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  delete(id: number): Promise<boolean> {
    return this.#adminGuarded(async (trx) => {
      const before = await trx.selectFrom("users").select("role").where("id", "=", id).executeTakeFirst();
      if (before === undefined) return false;
      if (before.role === "admin" && (await this.#otherAdmins(trx, id)) === 0) throw lastAdministrator(id);
      await trx.deleteFrom("api_tokens").where("user_id", "=", id).execute();
      await trx.deleteFrom("users").where("id", "=", id).execute();
      return true;
    });
  }

  count(): Promise<number> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
      return integer(row, "count");
    });
  }

  /** One transaction that counts and changes administrators; PostgreSQL first takes the advisory lock (see `createFirst`). */
  #adminGuarded<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        if (this.#database.dialect === "postgres") await sql`SELECT pg_advisory_xact_lock(${sql.lit(firstUserLockKey)})`.execute(trx);
        return work(trx);
      }),
    );
  }

  async #otherAdmins(trx: Transaction<Database>, id: number): Promise<number> {
    const row = await trx.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("count")).where("role", "=", "admin").where("id", "<>", id).executeTakeFirstOrThrow();
    return integer(row, "count");
  }

  #values(input: NewUser) {
    const role = input.role ?? "admin";
    if (!isRole(role)) throw new ServerError("bad_request", `Unknown role "${String(role)}".`, { field: "role", fix: 'Use "admin", "operator" or "helpdesk".' });
    if (typeof input.username !== "string" || input.username.trim() === "") throw new ServerError("bad_request", "User name must be a non-empty string.", { field: "username" });
    return { username: input.username, password_hash: input.passwordHash, role, created_at: millis(input.createdAt ?? new Date(), "createdAt") };
  }

  #taken(input: NewUser, error: unknown): unknown {
    return isUniqueViolation(error) ? new ServerError("conflict", `A user named "${input.username}" already exists.`, { cause: error }) : error;
  }
}
