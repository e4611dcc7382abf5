import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { type Row, bytesOrNull, integer, text } from "./row-readers.ts";
import { isUniqueViolation } from "./store-errors.ts";

/**
 * A registry stacks pull images from (docs/fleet.md "Registries"). The password is stored sealed
 * (`fleet/registries.ts` seals and opens it); the store never sees it in clear.
 */
export interface RegistryRecord {
  id: number;
  name: string;
  /** `host[:port]`. */
  url: string;
  authentication: boolean;
  username: string;
  /** Sealed password; null without authentication. */
  passwordSealed: Buffer | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a registry is created or updated with (the password already sealed, by id, through `seal`). */
export interface RegistryFields {
  name: string;
  url: string;
  authentication: boolean;
  username: string;
}

/** A stack whose latest version pulls from a registry, with its edge groups. */
export interface StackNamingRegistry {
  id: number;
  name: string;
  groupIds: number[];
}

/** The registries, and which stacks name them. */
export interface RegistryStore {
  /**
   * Inserts a registry; `seal(id)` gives the sealed password once the id is known (null for none),
   * stored in the same transaction. `conflict` (field `Name`) when the name is taken.
   */
  create(fields: RegistryFields, seal: (id: number) => Buffer | null, at: Date): Promise<RegistryRecord>;
  get(id: number): Promise<RegistryRecord | null>;
  /** Every registry, by id. */
  list(): Promise<RegistryRecord[]>;
  /** The registries among `ids` that exist, by id. */
  getMany(ids: readonly number[]): Promise<RegistryRecord[]>;
  /**
   * Replaces the fields and the sealed password (`seal(id)`; `undefined` keeps the stored one).
   * Null when the registry does not exist; `conflict` when the new name is taken.
   */
  update(id: number, fields: RegistryFields, seal: ((id: number) => Buffer | null) | undefined, at: Date): Promise<RegistryRecord | null>;
  /**
   * Deletes the registry unless a stack names it, in one transaction: `deleted`, `missing`, or
   * `in_use` with the stacks that name it (then nothing is deleted).
   */
  delete(id: number): Promise<{ outcome: "deleted" | "missing" } | { outcome: "in_use"; stacks: StackNamingRegistry[] }>;
  /** The stacks whose latest version names registry `id`, with their edge groups. */
  stacksNaming(id: number): Promise<StackNamingRegistry[]>;
}

/** Most ids `getMany` takes at once (a stack names at most 10 registries; a desired state at most 100 stacks). */
export const maxRegistryIds = 1_000;

function decode(row: Row): RegistryRecord {
  return {
    id: integer(row, "id"),
    name: text(row, "name"),
    url: text(row, "url"),
    authentication: integer(row, "authentication") === 1,
    username: text(row, "username"),
    passwordSealed: bytesOrNull(row, "password_sealed"),
    createdAt: new Date(integer(row, "created_at")),
    updatedAt: new Date(integer(row, "updated_at")),
  };
}

function nameTaken(name: string, cause: unknown): ServerError {
  return new ServerError("conflict", `A registry named "${name}" already exists.`, { field: "Name", fix: "Choose another name, or update the existing registry.", cause });
}

/** `RegistryStore` over kysely (SQLite and PostgreSQL). */
export class SqlRegistries implements RegistryStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  async create(fields: RegistryFields, seal: (id: number) => Buffer | null, at: Date): Promise<RegistryRecord> {
    const now = at.getTime();
    try {
      return await this.#database.run((db) =>
        db.transaction().execute(async (trx) => {
          const { id } = await trx
            .insertInto("registries")
            .values({ name: fields.name, url: fields.url, authentication: fields.authentication ? 1 : 0, username: fields.username, password_sealed: null, created_at: now, updated_at: now })
            .returning("id")
            .executeTakeFirstOrThrow();
          const sealed = fields.authentication ? seal(Number(id)) : null;
          if (sealed) await trx.updateTable("registries").set({ password_sealed: sealed }).where("id", "=", id).execute();
          return decode(await trx.selectFrom("registries").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
        }),
      );
    } catch (error) {
      if (isUniqueViolation((error as { cause?: unknown }).cause ?? error)) throw nameTaken(fields.name, error);
      throw error;
    }
  }

  get(id: number): Promise<RegistryRecord | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("registries").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : decode(row);
    });
  }

  list(): Promise<RegistryRecord[]> {
    return this.#database.run(async (db) => (await db.selectFrom("registries").selectAll().orderBy("id").execute()).map(decode));
  }

  getMany(ids: readonly number[]): Promise<RegistryRecord[]> {
    if (ids.length === 0) return Promise.resolve([]);
    if (ids.length > maxRegistryIds) throw new ServerError("bad_request", `At most ${maxRegistryIds} registries are read at once (${ids.length} asked).`, { field: "ids" });
    return this.#database.run(async (db) => (await db.selectFrom("registries").selectAll().where("id", "in", [...ids]).orderBy("id").execute()).map(decode));
  }

  async update(id: number, fields: RegistryFields, seal: ((id: number) => Buffer | null) | undefined, at: Date): Promise<RegistryRecord | null> {
    try {
      return await this.#database.run((db) =>
        db.transaction().execute(async (trx) => {
          const changes = { name: fields.name, url: fields.url, authentication: fields.authentication ? 1 : 0, username: fields.username, updated_at: at.getTime() };
          // Without authentication no password is kept; with it, a new one replaces the stored one.
          const password = !fields.authentication ? { password_sealed: null } : seal ? { password_sealed: seal(id) } : {};
          const result = await trx.updateTable("registries").set({ ...changes, ...password }).where("id", "=", id).executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) return null;
          return decode(await trx.selectFrom("registries").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
        }),
      );
    } catch (error) {
      if (isUniqueViolation((error as { cause?: unknown }).cause ?? error)) throw nameTaken(fields.name, error);
      throw error;
    }
  }

  delete(id: number): Promise<{ outcome: "deleted" | "missing" } | { outcome: "in_use"; stacks: StackNamingRegistry[] }> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        // The delete itself checks for naming stacks, so a stack naming it in between is never left dangling.
        const result = await trx
          .deleteFrom("registries")
          .where("id", "=", id)
          .where((eb) => eb.not(eb.exists(eb.selectFrom("edge_stack_registries").select("stack_id").where("registry_id", "=", id))))
          .executeTakeFirst();
        if (Number(result.numDeletedRows) === 1) return { outcome: "deleted" as const };
        const exists = await trx.selectFrom("registries").select("id").where("id", "=", id).executeTakeFirst();
        if (!exists) return { outcome: "missing" as const };
        return { outcome: "in_use" as const, stacks: await stacksNaming(trx, id) };
      }),
    );
  }

  stacksNaming(id: number): Promise<StackNamingRegistry[]> {
    return this.#database.run((db) => stacksNaming(db, id));
  }
}

async function stacksNaming(db: SqlDatabase["db"], id: number): Promise<StackNamingRegistry[]> {
  const rows = await db
    .selectFrom("edge_stack_registries as r")
    .innerJoin("edge_stacks as s", "s.id", "r.stack_id")
    .leftJoin("edge_stack_groups as g", "g.stack_id", "s.id")
    .select(["s.id as id", "s.name as name", "g.group_id as group_id"])
    .where("r.registry_id", "=", id)
    .orderBy("s.id")
    .execute();
  const stacks = new Map<number, StackNamingRegistry>();
  for (const row of rows) {
    const stackId = integer(row, "id");
    let stack = stacks.get(stackId);
    if (!stack) stacks.set(stackId, (stack = { id: stackId, name: text(row, "name"), groupIds: [] }));
    if (row.group_id !== null) stack.groupIds.push(integer(row, "group_id"));
  }
  return [...stacks.values()];
}
