import { type Kysely, type Selectable, type Transaction, sql } from "kysely";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "./database.ts";
import { pageEnvironments, sharedFingerprints } from "./environment-page.ts";
import { reusableQuery } from "./reusable-query.ts";
import { sqliteConnectionOf } from "./database.ts";
import { type Row, bytesOrNull, dateOrNull, definedEntries, integer, integerOrNull, isRecord, json, millis, millisOrNull, text, textOrNull } from "./row-readers.ts";
import type { Database, EnvironmentsTable } from "./schema.ts";
import { corrupt, isUniqueViolation } from "./store-errors.ts";
import type {
  CheckIn,
  ClientCertificateInfo,
  DeviceIdentity,
  Environment,
  EnvironmentPage,
  EnvironmentPageQuery,
  EnvironmentPatch,
  EnvironmentStore,
  IdentityClone,
  IdentityConflict,
  NewEnvironment,
  Reenrollment,
} from "./store.ts";

// The desired-state columns are written by store/desired-state-versions.ts alone, never by a patch.
type Columns = Omit<Selectable<EnvironmentsTable>, "id" | "desired_state_version" | "desired_state_error">;

const agentKeys = ["version", "platform", "hostname", "os", "arch"] as const;
const certificateKeys = ["subject", "serialNumber", "fingerprintSha256", "issuer"] as const;

function strings<K extends string>(value: unknown, keys: readonly K[], what: string): Record<K, string> {
  if (!isRecord(value) || keys.some((key) => typeof value[key] !== "string")) throw corrupt(what);
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Record<K, string>;
}

/**
 * Reads an `environments` row back into an `Environment`, checking every column; a value of
 * another shape is a corrupt record (`store_failed`).
 *
 * @example
 * const environment = decodeEnvironment(await db.selectFrom("environments").selectAll().where("id", "=", 1).executeTakeFirstOrThrow());
 */
export function decodeEnvironment(row: Row): Environment {
  const agent = json(row, "agent");
  const certificate = json(row, "client_certificate");
  const conflict = json(row, "identity_conflict");
  const clone = json(row, "identity_clone");
  const identityKind = textOrNull(row, "identity_kind");
  const reenrollment = json(row, "reenrollment");
  const type = text(row, "type");
  if (type !== "edge-agent") throw corrupt(`environment type "${type}"`);
  if (identityKind !== null && identityKind !== "certificate" && identityKind !== "token") throw corrupt("identity kind");
  return {
    id: integer(row, "id"),
    name: text(row, "name"),
    type,
    edgeId: textOrNull(row, "edge_id"),
    edgeKeyEnvironment: integer(row, "edge_key_environment") === 1,
    userTrusted: integer(row, "user_trusted") === 1,
    checkinIntervalSeconds: integerOrNull(row, "checkin_interval_seconds"),
    createdAt: new Date(integer(row, "created_at")),
    lastCheckInAt: dateOrNull(row, "last_check_in_at"),
    agent: agent === null ? null : strings(agent, agentKeys, "agent"),
    sourceAddress: textOrNull(row, "source_address"),
    clientCertificate: certificate === null ? null : decodeCertificate(certificate),
    identity: identityKind === null ? null : { kind: identityKind, value: text(row, "identity_value") },
    identityConflict: conflict === null ? null : decodeConflict(conflict),
    identityClone: clone === null ? null : decodeClone(clone),
    edgeKeySecretHash: textOrNull(row, "edge_key_secret_hash"),
    enrollmentCsr: bytesOrNull(row, "enrollment_csr"),
    enrollmentKeySha256: textOrNull(row, "enrollment_key_sha256"),
    reenrollment: reenrollment === null ? null : decodeReenrollment(reenrollment),
    ...desiredStateOf(row),
  };
}

/** The desired-state columns (migration 16), absent from the environment while `NULL`. */
function desiredStateOf(row: Row): Pick<Environment, "desiredStateVersion" | "desiredStateError"> {
  const version = textOrNull(row, "desired_state_version");
  const error = textOrNull(row, "desired_state_error");
  return { ...(version === null ? {} : { desiredStateVersion: version }), ...(error === null ? {} : { desiredStateError: error }) };
}

function decodeReenrollment(value: unknown): Reenrollment {
  const previousSerial = isRecord(value) ? value["previousSerial"] : undefined;
  const sameKey = isRecord(value) ? value["sameKey"] : undefined;
  const at = isRecord(value) ? value["at"] : undefined;
  if (typeof previousSerial !== "string" || typeof sameKey !== "boolean" || typeof at !== "number") throw corrupt("reenrollment");
  return { previousSerial, sameKey, at: new Date(at) };
}

function decodeCertificate(value: unknown): ClientCertificateInfo {
  const fields = strings(value, certificateKeys, "client certificate");
  const notAfter = isRecord(value) ? value["notAfter"] : undefined;
  const notBefore = isRecord(value) ? value["notBefore"] : undefined;
  if (typeof notAfter !== "number" || (notBefore !== undefined && typeof notBefore !== "number")) throw corrupt("client certificate");
  return { ...fields, notAfter: new Date(notAfter), ...(notBefore === undefined ? {} : { notBefore: new Date(notBefore) }) };
}

function decodeConflict(value: unknown): IdentityConflict {
  const fields = strings(value, ["presented", "sourceAddress"], "identity conflict");
  const at = isRecord(value) ? value["at"] : undefined;
  const subject = isRecord(value) ? value["certificateSubject"] : undefined;
  if (typeof at !== "number" || (subject !== undefined && typeof subject !== "string")) throw corrupt("identity conflict");
  return { at: new Date(at), ...fields, ...(subject === undefined ? {} : { certificateSubject: subject }) };
}

function decodeClone(value: unknown): IdentityClone {
  const addresses = isRecord(value) ? value["addresses"] : undefined;
  const firstSeen = isRecord(value) ? value["firstSeen"] : undefined;
  const lastSeen = isRecord(value) ? value["lastSeen"] : undefined;
  if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === "string") || typeof firstSeen !== "number" || typeof lastSeen !== "number") throw corrupt("identity clone");
  return { addresses, firstSeen: new Date(firstSeen), lastSeen: new Date(lastSeen) };
}

function checkEnvironment(environment: Omit<Environment, "id">): void {
  const bad = (field: string, rule: string) => new ServerError("bad_request", `Environment ${field} ${rule}.`, { field });
  if (typeof environment.name !== "string" || environment.name.trim() === "") throw bad("name", "must be a non-empty string");
  if (environment.type !== "edge-agent") throw bad("type", 'must be "edge-agent"');
  if (environment.edgeId !== null && (typeof environment.edgeId !== "string" || environment.edgeId === "")) throw bad("edgeId", "must be a non-empty string or null");
  const interval = environment.checkinIntervalSeconds;
  if (interval !== null && (!Number.isSafeInteger(interval) || interval <= 0)) throw bad("checkinIntervalSeconds", "must be a positive whole number of seconds or null");
  if (environment.edgeKeySecretHash !== null && !/^[0-9a-f]{64}$/.test(environment.edgeKeySecretHash)) throw bad("edgeKeySecretHash", "must be a SHA-256 in hex or null");
  if (environment.enrollmentKeySha256 !== null && !/^[0-9a-f]{64}$/.test(environment.enrollmentKeySha256)) throw bad("enrollmentKeySha256", "must be a SHA-256 in hex or null");
  if (environment.enrollmentCsr !== null && !Buffer.isBuffer(environment.enrollmentCsr)) throw bad("enrollmentCsr", "must be DER bytes or null");
}

function encodeEnvironment(environment: Omit<Environment, "id">): Columns {
  const { agent, clientCertificate: certificate, identity, identityConflict: conflict, identityClone: clone } = environment;
  return {
    name: environment.name,
    type: environment.type,
    edge_id: environment.edgeId,
    edge_key_environment: environment.edgeKeyEnvironment ? 1 : 0,
    user_trusted: environment.userTrusted ? 1 : 0,
    checkin_interval_seconds: environment.checkinIntervalSeconds,
    created_at: millis(environment.createdAt, "createdAt"),
    last_check_in_at: millisOrNull(environment.lastCheckInAt, "lastCheckInAt"),
    agent: agent === null ? null : JSON.stringify(Object.fromEntries(agentKeys.map((key) => [key, agent[key]]))),
    source_address: environment.sourceAddress,
    client_certificate:
      certificate === null
        ? null
        : JSON.stringify({ ...certificate, notAfter: millis(certificate.notAfter, "clientCertificate.notAfter"), ...(certificate.notBefore ? { notBefore: millis(certificate.notBefore, "clientCertificate.notBefore") } : {}) }),
    identity_kind: identity?.kind ?? null,
    identity_value: identity?.value ?? null,
    identity_conflict: conflict === null ? null : JSON.stringify({ ...conflict, at: millis(conflict.at, "identityConflict.at") }),
    identity_clone: clone === null ? null : JSON.stringify({ addresses: clone.addresses, firstSeen: millis(clone.firstSeen, "identityClone.firstSeen"), lastSeen: millis(clone.lastSeen, "identityClone.lastSeen") }),
    edge_key_secret_hash: environment.edgeKeySecretHash,
    enrollment_csr: environment.enrollmentCsr,
    enrollment_key_sha256: environment.enrollmentKeySha256,
    reenrollment: environment.reenrollment === null ? null : JSON.stringify({ ...environment.reenrollment, at: millis(environment.reenrollment.at, "reenrollment.at") }),
  };
}

function edgeIdTaken(edgeId: string | null, cause: unknown): ServerError {
  return new ServerError("conflict", `An environment with EDGE_ID "${edgeId}" already exists.`, { cause, details: { edgeId } });
}

function notFound(id: number): ServerError {
  return new ServerError("not_found", `Environment ${id} does not exist.`, { details: { id } });
}

/** How many check-ins one PostgreSQL statement carries (two arrays of this many BIGINTs). */
const checkInsPerStatement = 10_000;

/**
 * `EnvironmentStore` on kysely, the same queries on SQLite and PostgreSQL. A read-modify-write
 * (update, claim, bindIdentity) is one transaction: BEGIN IMMEDIATE on SQLite, the row locked
 * with `SELECT … FOR UPDATE` on PostgreSQL (whose READ COMMITTED would otherwise let two writers
 * each apply a patch to the same old row).
 *
 * @example
 * const environments = new SqlEnvironments(await openDatabase({ path: "pier.db" }));
 * const waiting = await environments.list({ untrusted: true });
 */
export class SqlEnvironments implements EnvironmentStore {
  readonly #database: SqlDatabase;
  // The reads of every hello, compiled once.
  readonly #byId;
  readonly #byEdgeId;

  constructor(database: SqlDatabase) {
    this.#database = database;
    this.#byId = reusableQuery(database.db.selectFrom("environments").selectAll().where("id", "=", 0));
    this.#byEdgeId = reusableQuery(database.db.selectFrom("environments").selectAll().where("edge_id", "=", ""));
  }

  create(input: NewEnvironment): Promise<Environment> {
    const environment: Omit<Environment, "id"> = {
      edgeId: null,
      edgeKeyEnvironment: false,
      userTrusted: false,
      checkinIntervalSeconds: null,
      createdAt: new Date(),
      lastCheckInAt: null,
      agent: null,
      sourceAddress: null,
      clientCertificate: null,
      identity: null,
      identityConflict: null,
      identityClone: null,
      edgeKeySecretHash: null,
      enrollmentCsr: null,
      enrollmentKeySha256: null,
      reenrollment: null,
      ...definedEntries(input),
      name: input.name,
      type: input.type,
    };
    return this.#database.run(async (db) => {
      checkEnvironment(environment);
      try {
        return decodeEnvironment(await db.insertInto("environments").values(encodeEnvironment(environment)).returningAll().executeTakeFirstOrThrow());
      } catch (error) {
        if (isUniqueViolation(error)) throw edgeIdTaken(environment.edgeId, error);
        throw error;
      }
    });
  }

  get(id: number): Promise<Environment | null> {
    return this.#database.run(async (db) => {
      const [row] = (await db.executeQuery(this.#byId([id]))).rows;
      return row === undefined ? null : decodeEnvironment(row);
    });
  }

  getMany(ids: readonly number[]): Promise<Environment[]> {
    return this.#database.run(async (db) => {
      const found: Environment[] = [];
      const unique = [...new Set(ids)].sort((a, b) => a - b);
      // 1,000 parameters per statement: far below SQLite's 32,766 and PostgreSQL's 65,535.
      for (let start = 0; start < unique.length; start += 1_000) {
        const rows = await db.selectFrom("environments").selectAll().where("id", "in", unique.slice(start, start + 1_000)).orderBy("id").execute();
        for (const row of rows) found.push(decodeEnvironment(row));
      }
      return found;
    });
  }

  getByEdgeId(edgeId: string): Promise<Environment | null> {
    return this.#database.run(async (db) => {
      const [row] = (await db.executeQuery(this.#byEdgeId([edgeId]))).rows;
      return row === undefined ? null : decodeEnvironment(row);
    });
  }

  list(filter?: { untrusted?: boolean }): Promise<Environment[]> {
    return this.#database.run(async (db) => {
      const untrusted = filter?.untrusted;
      const rows = await db
        .selectFrom("environments")
        .selectAll()
        .$if(untrusted !== undefined, (query) => query.where("user_trusted", "=", untrusted ? 0 : 1))
        .orderBy("id")
        .execute();
      return rows.map(decodeEnvironment);
    });
  }

  page(query: EnvironmentPageQuery): Promise<EnvironmentPage> {
    return this.#database.run(() => pageEnvironments(this.#database, query, decodeEnvironment));
  }

  countSharingCertificate(fingerprintSha256: string): Promise<number> {
    return this.#database.run(async (db) => (await sharedFingerprints(db, this.#database.dialect, [fingerprintSha256])).get(fingerprintSha256) ?? 0);
  }

  update(id: number, patch: EnvironmentPatch, transaction?: Transaction<Database>): Promise<Environment> {
    const apply = async (trx: Transaction<Database>) => {
      const current = await this.#read(trx, id, true);
      if (current === null) throw notFound(id);
      return this.#write(trx, current, patch);
    };
    if (transaction !== undefined) return apply(transaction);
    return this.#database.run((db) => db.transaction().execute(apply));
  }

  claim(id: number, secretHash: string, patch: EnvironmentPatch): Promise<Environment | null> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const current = await this.#read(trx, id, true);
        if (current === null) throw notFound(id);
        return current.edgeKeySecretHash === secretHash ? this.#write(trx, current, patch) : null;
      }),
    );
  }

  /**
   * Binds a first identity: applies `patch` and `identity` only while the environment has no
   * identity or already this one, in one step; `null` when another identity got there first
   * (two devices presenting one EDGE_ID at once, possibly on two replicas). `not_found` if the
   * environment does not exist.
   */
  bindIdentity(id: number, identity: DeviceIdentity, patch: EnvironmentPatch): Promise<Environment | null> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const current = await this.#read(trx, id, true);
        if (current === null) throw notFound(id);
        if (current.identity !== null && (current.identity.kind !== identity.kind || current.identity.value !== identity.value)) return null;
        return this.#write(trx, current, { ...patch, identity });
      }),
    );
  }

  delete(id: number): Promise<boolean> {
    return this.#database.run(async (db) => {
      const result = await db.deleteFrom("environments").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  recordCheckIns(batch: readonly CheckIn[]): Promise<void> {
    return this.#database.run(async (db) => {
      if (batch.length === 0) return;
      const ids = batch.map((checkIn) => checkIn.id);
      const times = batch.map((checkIn) => millis(checkIn.at, "at"));
      const sqlite = sqliteConnectionOf(this.#database);
      if (sqlite !== undefined) {
        // One prepared statement run per check-in inside one transaction, synchronously while
        // holding kysely's only connection: measured faster than one statement over the batch.
        await db.connection().execute(() => {
          const update = sqlite.prepare("UPDATE environments SET last_check_in_at = ? WHERE id = ? AND (last_check_in_at IS NULL OR last_check_in_at < ?)");
          const connection = sqlite.connection;
          connection.exec("BEGIN IMMEDIATE");
          try {
            ids.forEach((id, index) => update.run([times[index], id, times[index]]));
            connection.exec("COMMIT");
          } catch (error) {
            if (connection.isTransaction) connection.exec("ROLLBACK");
            throw error;
          }
          return Promise.resolve();
        });
        return;
      }
      for (let offset = 0; offset < ids.length; offset += checkInsPerStatement) {
        const slice = (list: number[]) => list.slice(offset, offset + checkInsPerStatement);
        // One statement per slice: the arrays are unnested into (id, at) rows and joined.
        await sql`UPDATE environments AS e SET last_check_in_at = v.at
          FROM unnest(${slice(ids)}::bigint[], ${slice(times)}::bigint[]) AS v(id, at)
          WHERE e.id = v.id AND (e.last_check_in_at IS NULL OR e.last_check_in_at < v.at)`.execute(db);
      }
    });
  }

  async #read(db: Kysely<Database> | Transaction<Database>, id: number, forUpdate: boolean): Promise<Environment | null> {
    const row = await db
      .selectFrom("environments")
      .selectAll()
      .where("id", "=", id)
      .$if(forUpdate && this.#database.dialect === "postgres", (query) => query.forUpdate())
      .executeTakeFirst();
    return row === undefined ? null : decodeEnvironment(row);
  }

  async #write(trx: Transaction<Database>, current: Environment, patch: EnvironmentPatch): Promise<Environment> {
    const next: Environment = { ...current, ...definedEntries(patch), id: current.id, createdAt: current.createdAt };
    checkEnvironment(next);
    try {
      return decodeEnvironment(await trx.updateTable("environments").set(encodeEnvironment(next)).where("id", "=", current.id).returningAll().executeTakeFirstOrThrow());
    } catch (error) {
      if (isUniqueViolation(error)) throw edgeIdTaken(next.edgeId, error);
      throw error;
    }
  }
}
