import { type Kysely, type Transaction, sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { membershipRows } from "./edge-groups.ts";
import { type Row, integer, text } from "./row-readers.ts";
import type { Database } from "./schema.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./store-errors.ts";

/**
 * A team (docs/security.md "Teams and scope"): users, and the edge groups whose environments they
 * see. Administrators see everything whatever their teams; anyone else only their teams' groups.
 */
export interface Team {
  id: number;
  /** Unique, compared case-insensitively. */
  name: string;
  /** Members (ascending). */
  userIds: number[];
  /** The edge groups in the team's scope (ascending). */
  edgeGroupIds: number[];
  createdAt: Date;
}

/** What `create` and `update` take: the whole team (an update replaces members and groups). */
export interface TeamInput {
  name: string;
  userIds: readonly number[];
  edgeGroupIds: readonly number[];
}

/** Teams, their members and edge groups. Names and limits are checked by the API (api/routes/teams.ts). */
export interface TeamStore {
  /** `conflict` when the name is taken; `bad_request` (naming the field) when a user or group does not exist. */
  create(input: TeamInput, now?: Date): Promise<Team>;
  get(id: number): Promise<Team | null>;
  /** Every team, by id. */
  list(): Promise<Team[]>;
  /** The teams `userId` belongs to, by id. */
  ofUser(userId: number): Promise<Team[]>;
  /** Replaces name, members and groups in one transaction; `not_found`, `conflict`, `bad_request` as `create`. */
  update(id: number, input: TeamInput): Promise<Team>;
  /** `false` when there was no such team. */
  delete(id: number): Promise<boolean>;
  /** The edge groups of every team `userId` belongs to (ascending, distinct): one query, the scope's. */
  edgeGroupsOfUser(userId: number): Promise<number[]>;
  /** Whether an environment is a member of one of `edgeGroupIds`, a waiting device as if associated (a scope's rule): one query. */
  environmentInGroups(environmentId: number, edgeGroupIds: readonly number[]): Promise<boolean>;
  /** Which of `environmentIds` are members of one of `edgeGroupIds` (the same rule): one query per 500 environments. */
  environmentsInGroups(environmentIds: readonly number[], edgeGroupIds: readonly number[]): Promise<Set<number>>;
}

const sortedUnique = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

function nameTaken(name: string, cause: unknown): ServerError {
  return new ServerError("conflict", `A team named "${name}" already exists (names are compared case-insensitively).`, { field: "Name", cause, fix: "Choose another name, or change the existing team." });
}

/**
 * `TeamStore` on kysely, the same queries on SQLite and PostgreSQL (migration 19). Links leave
 * with their user, team or edge group through the foreign keys' cascades.
 *
 * @example
 * const teams = new SqlTeams(database);
 * const team = await teams.create({ name: "Berlin", userIds: [2], edgeGroupIds: [1] });
 */
export class SqlTeams implements TeamStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  create(input: TeamInput, now = new Date()): Promise<Team> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        let row;
        try {
          row = await trx.insertInto("teams").values({ name: input.name, created_at: now.getTime() }).returningAll().executeTakeFirstOrThrow();
        } catch (error) {
          if (isUniqueViolation(error)) throw nameTaken(input.name, error);
          throw error;
        }
        return this.#writeLinks(trx, row, input);
      }),
    );
  }

  get(id: number): Promise<Team | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("teams").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : ((await this.#withLinks(db, [row]))[0] ?? null);
    });
  }

  list(): Promise<Team[]> {
    return this.#database.run(async (db) => this.#withLinks(db, await db.selectFrom("teams").selectAll().orderBy("id").execute()));
  }

  ofUser(userId: number): Promise<Team[]> {
    return this.#database.run(async (db) => {
      const rows = await db.selectFrom("teams").selectAll().where("id", "in", db.selectFrom("team_members").select("team_id").where("user_id", "=", userId)).orderBy("id").execute();
      return this.#withLinks(db, rows);
    });
  }

  update(id: number, input: TeamInput): Promise<Team> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        let row;
        try {
          row = await trx.updateTable("teams").set({ name: input.name }).where("id", "=", id).returningAll().executeTakeFirst();
        } catch (error) {
          if (isUniqueViolation(error)) throw nameTaken(input.name, error);
          throw error;
        }
        if (row === undefined) throw new ServerError("not_found", `Team ${id} does not exist.`, { details: { id } });
        await trx.deleteFrom("team_members").where("team_id", "=", id).execute();
        await trx.deleteFrom("team_edge_groups").where("team_id", "=", id).execute();
        return this.#writeLinks(trx, row, input);
      }),
    );
  }

  delete(id: number): Promise<boolean> {
    return this.#database.run(async (db) => (await db.deleteFrom("teams").where("id", "=", id).executeTakeFirst()).numDeletedRows > 0n);
  }

  edgeGroupsOfUser(userId: number): Promise<number[]> {
    return this.#database.run(async (db) => {
      const { rows } = await sql<{ edge_group_id: number }>`SELECT DISTINCT g.edge_group_id FROM team_members m
        JOIN team_edge_groups g ON g.team_id = m.team_id
        WHERE m.user_id = ${userId} ORDER BY g.edge_group_id`.execute(db);
      return rows.map((row) => Number(row.edge_group_id));
    });
  }

  environmentInGroups(environmentId: number, edgeGroupIds: readonly number[]): Promise<boolean> {
    if (edgeGroupIds.length === 0) return Promise.resolve(false);
    return this.#database.run(async (db) => {
      const { rows } = await sql<{ found: number }>`SELECT 1 AS found FROM (${membershipRows(edgeGroupIds, { waitingToo: true })}) AS scope WHERE scope.environment_id = ${environmentId} LIMIT 1`.execute(db);
      return rows.length > 0;
    });
  }

  environmentsInGroups(environmentIds: readonly number[], edgeGroupIds: readonly number[]): Promise<Set<number>> {
    const ids = [...new Set(environmentIds)];
    if (ids.length === 0 || edgeGroupIds.length === 0) return Promise.resolve(new Set());
    return this.#database.run(async (db) => {
      const found = new Set<number>();
      for (let start = 0; start < ids.length; start += 500) {
        const part = ids.slice(start, start + 500);
        const { rows } = await sql<{ environment_id: number }>`SELECT DISTINCT scope.environment_id FROM (${membershipRows(edgeGroupIds, { waitingToo: true })}) AS scope WHERE scope.environment_id IN (${sql.join(part)})`.execute(db);
        for (const row of rows) found.add(Number(row.environment_id));
      }
      return found;
    });
  }

  /** Writes a team's members and groups; `bad_request` naming the field when one does not exist. */
  async #writeLinks(trx: Transaction<Database>, row: Row, input: TeamInput): Promise<Team> {
    const id = integer(row, "id");
    const userIds = sortedUnique(input.userIds);
    const edgeGroupIds = sortedUnique(input.edgeGroupIds);
    try {
      if (userIds.length > 0) await trx.insertInto("team_members").values(userIds.map((userId) => ({ team_id: id, user_id: userId }))).execute();
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new ServerError("bad_request", "A user given in UserIds does not exist (removed meanwhile?).", { field: "UserIds", cause: error, fix: "GET /api/users lists the users." });
      throw error;
    }
    try {
      if (edgeGroupIds.length > 0) await trx.insertInto("team_edge_groups").values(edgeGroupIds.map((groupId) => ({ team_id: id, edge_group_id: groupId }))).execute();
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new ServerError("bad_request", "An edge group given in EdgeGroupIds does not exist (removed meanwhile?).", { field: "EdgeGroupIds", cause: error, fix: "GET /api/edge_groups lists the groups." });
      throw error;
    }
    return decodeTeam(row, userIds, edgeGroupIds);
  }

  /** The teams of `rows` with their members and groups (two queries). Teams are few: one statement each. */
  async #withLinks(db: Kysely<Database> | Transaction<Database>, rows: readonly Row[]): Promise<Team[]> {
    const ids = rows.map((row) => integer(row, "id"));
    if (ids.length === 0) return [];
    const members = new Map<number, number[]>();
    const groups = new Map<number, number[]>();
    for (const link of await db.selectFrom("team_members").selectAll().where("team_id", "in", ids).orderBy("team_id").orderBy("user_id").execute()) {
      members.set(Number(link.team_id), [...(members.get(Number(link.team_id)) ?? []), Number(link.user_id)]);
    }
    for (const link of await db.selectFrom("team_edge_groups").selectAll().where("team_id", "in", ids).orderBy("team_id").orderBy("edge_group_id").execute()) {
      groups.set(Number(link.team_id), [...(groups.get(Number(link.team_id)) ?? []), Number(link.edge_group_id)]);
    }
    return rows.map((row) => {
      const id = integer(row, "id");
      return decodeTeam(row, members.get(id) ?? [], groups.get(id) ?? []);
    });
  }
}

function decodeTeam(row: Row, userIds: number[], edgeGroupIds: number[]): Team {
  return { id: integer(row, "id"), name: text(row, "name"), userIds, edgeGroupIds, createdAt: new Date(integer(row, "created_at")) };
}
