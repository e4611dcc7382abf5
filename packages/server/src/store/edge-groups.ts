import { type Kysely, type RawBuilder, type Transaction, sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, integer, json, text } from "./row-readers.ts";
import type { Database } from "./schema.ts";
import { corrupt, isForeignKeyViolation, isUniqueViolation } from "./store-errors.ts";

/**
 * An edge group (docs/fleet.md "Tags and edge groups"): static (a list of environments) or
 * dynamic (environments carrying all its tags, or any of them with `partialMatch`). Only
 * associated environments are ever members.
 */
export interface EdgeGroup {
  id: number;
  /** Unique, compared case-insensitively. */
  name: string;
  dynamic: boolean;
  partialMatch: boolean;
  /** A dynamic group's rule (ascending); empty for static groups. A dynamic group without tags has no members. */
  tagIds: number[];
  /** A static group's stored members (ascending; waiting-room ones among them are not members); empty for dynamic groups. */
  environmentIds: number[];
  createdAt: Date;
}

/** What `create` and `update` take: the whole group (an update replaces the rule and the members). */
export interface EdgeGroupInput {
  name: string;
  dynamic: boolean;
  partialMatch: boolean;
  /** Kept only for dynamic groups. */
  tagIds: readonly number[];
  /** Kept only for static groups. */
  environmentIds: readonly number[];
}

/** Edge groups, their membership, and the groups waiting devices asked for. Names and limits are checked by `fleet/edge-groups.ts`. */
export interface EdgeGroupStore {
  /** `conflict` when the name is taken; `bad_request` when a tag or environment does not exist. */
  create(input: EdgeGroupInput, now?: Date): Promise<EdgeGroup>;
  get(id: number): Promise<EdgeGroup | null>;
  /** Every group, by id. */
  list(): Promise<EdgeGroup[]>;
  /** The groups with these names (compared case-insensitively), by id. */
  getByNames(names: readonly string[]): Promise<EdgeGroup[]>;
  /** Replaces name, kind, rule and members in one transaction; `not_found`, `conflict`, `bad_request` as `create`. */
  update(id: number, input: EdgeGroupInput): Promise<EdgeGroup>;
  /** `false` when there was no such group. */
  delete(id: number): Promise<boolean>;
  /** Adds environments to a static group (those already in it stay); `not_found` if the group is gone. */
  addStaticMembers(groupId: number, environmentIds: readonly number[]): Promise<void>;
  /** The associated environments in any of `groupIds` (union, ascending): one query per 500 groups. */
  membersOf(groupIds: readonly number[]): Promise<number[]>;
  /** The members of each of `groupIds` (groups without members map to `[]`). */
  membersByGroup(groupIds: readonly number[]): Promise<Map<number, number[]>>;
  /** The groups an environment is a member of (ascending; none while it waits): one query. */
  groupsOf(environmentId: number): Promise<number[]>;
  /** Records (or, with `[]`, forgets) the group names a device asked for (`EDGE_GROUPS`). */
  setRequest(environmentId: number, names: readonly string[]): Promise<void>;
  /** The names each of `environmentIds` asked for; environments without a request are absent. */
  requestsOf(environmentIds: readonly number[]): Promise<Map<number, string[]>>;
}

const idsPerStatement = 500;

function chunks<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let index = 0; index < values.length; index += idsPerStatement) out.push(values.slice(index, index + idsPerStatement));
  return out;
}

const sortedUnique = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

/**
 * SQL: the `(group_id, environment_id)` membership rows of `groupIds` (not empty), associated
 * environments only (`waitingToo`: waiting devices too, as if associated: a team's scope). Static members from `edge_group_environments`; dynamic groups matched through
 * `environment_tags` — any tag with partial match, else every tag of the rule (a rule without tags
 * matches nothing). Served by the `_by_tag` indexes of migration 11.
 *
 * @example
 * await sql`SELECT environment_id FROM (${membershipRows([3])}) AS m`.execute(db);
 */
export function membershipRows(groupIds: readonly number[], options: { readonly waitingToo?: boolean } = {}): RawBuilder<{ group_id: number; environment_id: number }> {
  const ids = sql.join(groupIds);
  return sql`SELECT m.group_id, m.environment_id FROM (
      SELECT s.group_id, s.environment_id FROM edge_group_environments s JOIN edge_groups g ON g.id = s.group_id
        WHERE s.group_id IN (${ids}) AND g.dynamic = 0
      UNION
      SELECT gt.group_id, et.environment_id FROM edge_groups g
        JOIN edge_group_tags gt ON gt.group_id = g.id
        JOIN environment_tags et ON et.tag_id = gt.tag_id
        WHERE g.id IN (${ids}) AND g.dynamic = 1 AND g.partial_match = 1
      UNION
      SELECT gt.group_id, et.environment_id FROM edge_groups g
        JOIN edge_group_tags gt ON gt.group_id = g.id
        JOIN environment_tags et ON et.tag_id = gt.tag_id
        WHERE g.id IN (${ids}) AND g.dynamic = 1 AND g.partial_match = 0
        GROUP BY gt.group_id, et.environment_id
        HAVING count(*) = (SELECT count(*) FROM edge_group_tags n WHERE n.group_id = gt.group_id)
    ) m JOIN environments e ON e.id = m.environment_id
    WHERE ${options.waitingToo === true ? sql`1 = 1` : sql`e.user_trusted = 1`}`;
}

function decodeGroup(row: Row, tagIds: number[], environmentIds: number[]): EdgeGroup {
  const flag = (column: string) => {
    const value = integer(row, column);
    if (value !== 0 && value !== 1) throw corrupt(`edge_groups column ${column}`);
    return value === 1;
  };
  return { id: integer(row, "id"), name: text(row, "name"), dynamic: flag("dynamic"), partialMatch: flag("partial_match"), tagIds, environmentIds, createdAt: new Date(integer(row, "created_at")) };
}

function nameTaken(name: string, cause: unknown): ServerError {
  return new ServerError("conflict", `An edge group named "${name}" already exists (names are compared case-insensitively).`, { field: "Name", cause, fix: "Choose another name, or change the existing group." });
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * `EdgeGroupStore` on kysely, the same queries on SQLite and PostgreSQL. Membership is computed
 * by `membershipRows` at each read, never stored for dynamic groups, so a tag change or an
 * association takes effect at once on every replica.
 *
 * @example
 * const groups = new SqlEdgeGroups(await openDatabase({ path: "pier.db" }));
 * const group = await groups.create({ name: "sites", dynamic: true, partialMatch: false, tagIds: [1], environmentIds: [] });
 * const members = await groups.membersOf([group.id]);
 */
export class SqlEdgeGroups implements EdgeGroupStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  create(input: EdgeGroupInput, now = new Date()): Promise<EdgeGroup> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        let row;
        try {
          row = await trx
            .insertInto("edge_groups")
            .values({ name: input.name, dynamic: input.dynamic ? 1 : 0, partial_match: input.partialMatch ? 1 : 0, created_at: now.getTime() })
            .returningAll()
            .executeTakeFirstOrThrow();
        } catch (error) {
          if (isUniqueViolation(error)) throw nameTaken(input.name, error);
          throw error;
        }
        const id = row.id;
        const { tagIds, environmentIds } = await this.#writeRule(trx, id, input);
        return decodeGroup(row, tagIds, environmentIds);
      }),
    );
  }

  get(id: number): Promise<EdgeGroup | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("edge_groups").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : (await this.#withRules(db, [row]))[0] ?? null;
    });
  }

  list(): Promise<EdgeGroup[]> {
    return this.#database.run(async (db) => this.#withRules(db, await db.selectFrom("edge_groups").selectAll().orderBy("id").execute()));
  }

  getByNames(names: readonly string[]): Promise<EdgeGroup[]> {
    return this.#database.run(async (db) => {
      const lowered = [...new Set(names.map((name) => name.toLowerCase()))];
      if (lowered.length === 0) return [];
      // lower() on both sides: SQLite's NOCASE column and PostgreSQL's lower(name) index agree on ASCII.
      const rows = await db.selectFrom("edge_groups").selectAll().where(sql<string>`lower(name)`, "in", lowered).orderBy("id").execute();
      return this.#withRules(db, rows);
    });
  }

  update(id: number, input: EdgeGroupInput): Promise<EdgeGroup> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        let row;
        try {
          row = await trx
            .updateTable("edge_groups")
            .set({ name: input.name, dynamic: input.dynamic ? 1 : 0, partial_match: input.partialMatch ? 1 : 0 })
            .where("id", "=", id)
            .returningAll()
            .executeTakeFirst();
        } catch (error) {
          if (isUniqueViolation(error)) throw nameTaken(input.name, error);
          throw error;
        }
        if (row === undefined) throw new ServerError("not_found", `Edge group ${id} does not exist.`, { details: { id } });
        await trx.deleteFrom("edge_group_tags").where("group_id", "=", id).execute();
        await trx.deleteFrom("edge_group_environments").where("group_id", "=", id).execute();
        const { tagIds, environmentIds } = await this.#writeRule(trx, id, input);
        return decodeGroup(row, tagIds, environmentIds);
      }),
    );
  }

  delete(id: number): Promise<boolean> {
    return this.#database.run(async (db) => (await db.deleteFrom("edge_groups").where("id", "=", id).executeTakeFirst()).numDeletedRows > 0n);
  }

  addStaticMembers(groupId: number, environmentIds: readonly number[]): Promise<void> {
    const ids = sortedUnique(environmentIds);
    return this.#database.run(async (db) => {
      try {
        for (const part of chunks(ids)) {
          await db
            .insertInto("edge_group_environments")
            .values(part.map((environmentId) => ({ group_id: groupId, environment_id: environmentId })))
            .onConflict((conflict) => conflict.columns(["group_id", "environment_id"]).doNothing())
            .execute();
        }
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new ServerError("not_found", `Edge group ${groupId} or one of environments ${ids.join(", ")} no longer exists.`, { cause: error });
        throw error;
      }
    });
  }

  membersOf(groupIds: readonly number[]): Promise<number[]> {
    return this.#database.run(async (db) => {
      const members = new Set<number>();
      for (const part of chunks(sortedUnique(groupIds))) {
        const { rows } = await sql<{ environment_id: number }>`SELECT DISTINCT environment_id FROM (${membershipRows(part)}) AS members ORDER BY environment_id`.execute(db);
        for (const row of rows) members.add(Number(row.environment_id));
      }
      return [...members].sort((a, b) => a - b);
    });
  }

  membersByGroup(groupIds: readonly number[]): Promise<Map<number, number[]>> {
    return this.#database.run(async (db) => {
      const ids = sortedUnique(groupIds);
      const members = new Map<number, number[]>(ids.map((id) => [id, []]));
      for (const part of chunks(ids)) {
        const { rows } = await sql<{ group_id: number; environment_id: number }>`SELECT group_id, environment_id FROM (${membershipRows(part)}) AS members ORDER BY group_id, environment_id`.execute(db);
        for (const row of rows) members.get(Number(row.group_id))?.push(Number(row.environment_id));
      }
      return members;
    });
  }

  groupsOf(environmentId: number): Promise<number[]> {
    return this.#database.run(async (db) => {
      const { rows } = await sql<{ id: number }>`SELECT g.id FROM edge_groups g
        WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = ${environmentId} AND e.user_trusted = 1) AND (
          (g.dynamic = 0 AND EXISTS (SELECT 1 FROM edge_group_environments s WHERE s.group_id = g.id AND s.environment_id = ${environmentId}))
          OR (g.dynamic = 1 AND g.partial_match = 1 AND EXISTS (
            SELECT 1 FROM edge_group_tags gt JOIN environment_tags et ON et.tag_id = gt.tag_id AND et.environment_id = ${environmentId} WHERE gt.group_id = g.id))
          OR (g.dynamic = 1 AND g.partial_match = 0
            AND EXISTS (SELECT 1 FROM edge_group_tags gt WHERE gt.group_id = g.id)
            AND NOT EXISTS (SELECT 1 FROM edge_group_tags gt WHERE gt.group_id = g.id
              AND NOT EXISTS (SELECT 1 FROM environment_tags et WHERE et.environment_id = ${environmentId} AND et.tag_id = gt.tag_id)))
        )
        ORDER BY g.id`.execute(db);
      return rows.map((row) => Number(row.id));
    });
  }

  setRequest(environmentId: number, names: readonly string[]): Promise<void> {
    return this.#database.run(async (db) => {
      if (names.length === 0) {
        await db.deleteFrom("edge_group_requests").where("environment_id", "=", environmentId).execute();
        return;
      }
      const value = JSON.stringify(names);
      await db
        .insertInto("edge_group_requests")
        .values({ environment_id: environmentId, names: value })
        .onConflict((conflict) => conflict.column("environment_id").doUpdateSet({ names: value }))
        .execute();
    });
  }

  requestsOf(environmentIds: readonly number[]): Promise<Map<number, string[]>> {
    return this.#database.run(async (db) => {
      const requests = new Map<number, string[]>();
      for (const part of chunks(sortedUnique(environmentIds))) {
        for (const row of await db.selectFrom("edge_group_requests").selectAll().where("environment_id", "in", part).execute()) {
          const names = json(row, "names");
          if (!Array.isArray(names) || !names.every((name) => typeof name === "string")) throw corrupt(`edge_group_requests of environment ${row.environment_id}`);
          requests.set(row.environment_id, names);
        }
      }
      return requests;
    });
  }

  /** Writes a group's tag rule (dynamic) or members (static); `bad_request` when one does not exist. */
  async #writeRule(trx: Transaction<Database>, id: number, input: EdgeGroupInput): Promise<{ tagIds: number[]; environmentIds: number[] }> {
    const tagIds = input.dynamic ? sortedUnique(input.tagIds) : [];
    const environmentIds = input.dynamic ? [] : sortedUnique(input.environmentIds);
    try {
      for (const part of chunks(tagIds)) await trx.insertInto("edge_group_tags").values(part.map((tagId) => ({ group_id: id, tag_id: tagId }))).execute();
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new ServerError("bad_request", "A tag given in TagIDs does not exist (removed meanwhile?).", { field: "TagIDs", cause: error });
      throw error;
    }
    try {
      for (const part of chunks(environmentIds)) await trx.insertInto("edge_group_environments").values(part.map((environmentId) => ({ group_id: id, environment_id: environmentId }))).execute();
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new ServerError("bad_request", "An environment given in Endpoints does not exist (removed meanwhile?).", { field: "Endpoints", cause: error });
      throw error;
    }
    return { tagIds, environmentIds };
  }

  /** The groups of `rows` with their rules and stored members (two queries per 500 groups). */
  async #withRules(db: Db, rows: readonly Row[]): Promise<EdgeGroup[]> {
    const ids = rows.map((row) => integer(row, "id"));
    const tags = new Map<number, number[]>();
    const members = new Map<number, number[]>();
    for (const part of chunks(ids)) {
      for (const row of await db.selectFrom("edge_group_tags").selectAll().where("group_id", "in", part).orderBy("group_id").orderBy("tag_id").execute()) {
        tags.set(row.group_id, [...(tags.get(row.group_id) ?? []), row.tag_id]);
      }
      for (const row of await db.selectFrom("edge_group_environments").selectAll().where("group_id", "in", part).orderBy("group_id").orderBy("environment_id").execute()) {
        const list = members.get(row.group_id) ?? [];
        list.push(row.environment_id);
        members.set(row.group_id, list);
      }
    }
    return rows.map((row) => {
      const id = integer(row, "id");
      return decodeGroup(row, tags.get(id) ?? [], members.get(id) ?? []);
    });
  }
}
