import { type Kysely, sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, integer, text } from "./row-readers.ts";
import type { Database } from "./schema.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./store-errors.ts";
import type { StoreTransaction } from "./store.ts";

/** The PostgreSQL advisory lock that serialises tag creates' count and insert (`countForInsert`). */
const tagCountLockKey = 0x7069_6574; // "piet"

/** A tag (docs/fleet.md "Tags and edge groups"): a name environments carry and dynamic edge groups match. */
export interface Tag {
  /** Positive, assigned by the store, never reused. */
  id: number;
  /** Unique, compared case-insensitively. */
  name: string;
}

/** Tags and the tags each environment carries. Names and limits are checked by `fleet/tags.ts`. */
export interface TagStore {
  /** Inserts a tag (inside `transaction`: an audit entry's, `AuditLog.append`); `conflict` when the name is taken (case-insensitively). */
  create(name: string, transaction?: StoreTransaction): Promise<Tag>;
  /** Every tag, by id. */
  list(): Promise<Tag[]>;
  /** How many tags exist. */
  count(): Promise<number>;
  /**
   * How many tags exist, counted inside `transaction` for an insert that follows in it: SQLite's
   * BEGIN IMMEDIATE already holds the write lock; PostgreSQL's READ COMMITTED would let two
   * transactions count the same, so it first takes a transaction advisory lock (the 1,000-tag
   * limit held under concurrent creates only with it: chaos suite, server-crash).
   */
  countForInsert(transaction: StoreTransaction): Promise<number>;
  /** Those of `ids` that exist, by id. */
  getMany(ids: readonly number[]): Promise<Tag[]>;
  /** Removes the tag from every environment and every dynamic group's rule, then the tag; `false` when there was none. */
  delete(id: number): Promise<boolean>;
  /** The tag ids each of `environmentIds` carries (ascending); environments without tags are absent. */
  tagsOf(environmentIds: readonly number[]): Promise<Map<number, number[]>>;
  /**
   * Replaces an environment's tags in one transaction; `not_found` if the environment does not
   * exist, `bad_request` if a tag does not (removed meanwhile). Returns the tags it had before.
   */
  setEnvironmentTags(environmentId: number, tagIds: readonly number[]): Promise<number[]>;
}

/** How many ids one `IN (…)` list carries. */
const idsPerStatement = 500;

function decodeTag(row: Row): Tag {
  return { id: integer(row, "id"), name: text(row, "name") };
}

function chunks(values: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let index = 0; index < values.length; index += idsPerStatement) out.push(values.slice(index, index + idsPerStatement));
  return out;
}

/**
 * `TagStore` on kysely, the same queries on SQLite and PostgreSQL.
 *
 * @example
 * const tags = new SqlTags(await openDatabase({ path: "pier.db" }));
 * const production = await tags.create("production");
 * await tags.setEnvironmentTags(7, [production.id]);
 */
export class SqlTags implements TagStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  create(name: string, transaction?: StoreTransaction): Promise<Tag> {
    const insert = async (db: Kysely<Database>) => {
      try {
        return decodeTag(await db.insertInto("tags").values({ name }).returningAll().executeTakeFirstOrThrow());
      } catch (error) {
        if (isUniqueViolation(error)) throw new ServerError("conflict", `A tag named "${name}" already exists (names are compared case-insensitively).`, { field: "Name", cause: error, fix: "Use the existing tag, or choose another name." });
        throw error;
      }
    };
    return transaction === undefined ? this.#database.run(insert) : insert(transaction);
  }

  list(): Promise<Tag[]> {
    return this.#database.run(async (db) => (await db.selectFrom("tags").selectAll().orderBy("id").execute()).map(decodeTag));
  }

  count(): Promise<number> {
    return this.#database.run(async (db) => Number((await db.selectFrom("tags").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n));
  }

  async countForInsert(transaction: StoreTransaction): Promise<number> {
    if (this.#database.dialect === "postgres") await sql`SELECT pg_advisory_xact_lock(${sql.lit(tagCountLockKey)})`.execute(transaction);
    return Number((await transaction.selectFrom("tags").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n);
  }

  getMany(ids: readonly number[]): Promise<Tag[]> {
    return this.#database.run(async (db) => {
      const found: Tag[] = [];
      for (const part of chunks([...new Set(ids)].sort((a, b) => a - b))) {
        for (const row of await db.selectFrom("tags").selectAll().where("id", "in", part).orderBy("id").execute()) found.push(decodeTag(row));
      }
      return found;
    });
  }

  delete(id: number): Promise<boolean> {
    // The environment_tags and edge_group_tags rows go with it (ON DELETE CASCADE).
    return this.#database.run(async (db) => (await db.deleteFrom("tags").where("id", "=", id).executeTakeFirst()).numDeletedRows > 0n);
  }

  tagsOf(environmentIds: readonly number[]): Promise<Map<number, number[]>> {
    return this.#database.run(async (db) => {
      const tags = new Map<number, number[]>();
      for (const part of chunks([...new Set(environmentIds)])) {
        const rows = await db.selectFrom("environment_tags").select(["environment_id", "tag_id"]).where("environment_id", "in", part).orderBy("environment_id").orderBy("tag_id").execute();
        for (const row of rows) {
          const list = tags.get(row.environment_id) ?? [];
          list.push(row.tag_id);
          tags.set(row.environment_id, list);
        }
      }
      return tags;
    });
  }

  setEnvironmentTags(environmentId: number, tagIds: readonly number[]): Promise<number[]> {
    const unique = [...new Set(tagIds)].sort((a, b) => a - b);
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        // Locks the environment's row on PostgreSQL, so two writers of its tags take turns.
        const environment = await trx
          .selectFrom("environments")
          .select("id")
          .where("id", "=", environmentId)
          .$if(this.#database.dialect === "postgres", (query) => query.forUpdate())
          .executeTakeFirst();
        if (environment === undefined) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`, { details: { id: environmentId } });
        const before = (await trx.selectFrom("environment_tags").select("tag_id").where("environment_id", "=", environmentId).orderBy("tag_id").execute()).map((row) => row.tag_id);
        await trx.deleteFrom("environment_tags").where("environment_id", "=", environmentId).execute();
        try {
          for (const part of chunks(unique)) await trx.insertInto("environment_tags").values(part.map((tagId) => ({ environment_id: environmentId, tag_id: tagId }))).execute();
        } catch (error) {
          if (isForeignKeyViolation(error)) throw new ServerError("bad_request", "A tag given in TagIDs does not exist (removed meanwhile?).", { field: "TagIDs", cause: error, fix: "List the tags with GET /api/tags and send the request again." });
          throw error;
        }
        return before;
      }),
    );
  }
}

/** SQL: the ids of environments carrying every one of `tagIds` (not empty), for `environments.page`. */
export function environmentsWithAllTags(tagIds: readonly number[]) {
  const unique = [...new Set(tagIds)];
  return sql<number>`SELECT environment_tags.environment_id FROM environment_tags WHERE environment_tags.tag_id IN (${sql.join(unique)}) GROUP BY environment_tags.environment_id HAVING count(*) = ${unique.length}`;
}
