import type { DatabaseSync } from "node:sqlite";
import { type Kysely, sql } from "kysely";
import { ServerError } from "../errors.ts";
import { type SqlDatabase, sqliteConnectionOf } from "./database.ts";
import type { Database } from "./schema.ts";
import { fleetMigrations } from "./fleet-migrations.ts";
import { auditChain } from "./audit-chain-migration.ts";
import { rolesAndTokenScopes } from "./user-migrations.ts";
import { teams } from "./team-migrations.ts";

/** One step of one dialect's schema. Versions increase by one; never edit a released step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** SQLite: runs after `sql` in the same transaction, for data SQL cannot compute (SHA-256 chains). */
  sqliteData?: (db: DatabaseSync) => void;
  /** PostgreSQL: as `sqliteData`. */
  postgresData?: (db: Kysely<Database>) => Promise<void>;
}

/** A step from version 8 on, written for both engines (docs/architecture.md "Scale-out / Store"). */
export interface DialectMigration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
  /** See `Migration.sqliteData`. */
  sqliteData?: (db: DatabaseSync) => void;
  /** See `Migration.postgresData`. */
  postgresData?: (db: Kysely<Database>) => Promise<void>;
}

/** SQLite's steps 1–7, from before PostgreSQL (see `migrations`). */
const sqliteSteps: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
      CREATE TABLE environments (
        id INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: an id (and the EDGE_KEY naming it) is never reused
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        edge_id TEXT UNIQUE,
        edge_key_environment INTEGER NOT NULL CHECK (edge_key_environment IN (0, 1)),
        user_trusted INTEGER NOT NULL CHECK (user_trusted IN (0, 1)),
        checkin_interval_seconds INTEGER CHECK (checkin_interval_seconds > 0),
        created_at INTEGER NOT NULL,
        last_check_in_at INTEGER,
        agent TEXT,
        source_address TEXT,
        client_certificate TEXT,
        identity_kind TEXT CHECK (identity_kind IN ('certificate', 'token')),
        identity_value TEXT,
        identity_conflict TEXT,
        CHECK ((identity_kind IS NULL) = (identity_value IS NULL))
      ) STRICT;
      CREATE INDEX environments_by_trust ON environments (user_trusted, id);

      CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        description TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
      ) STRICT;
      CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

      CREATE TABLE settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        document TEXT NOT NULL
      ) STRICT;

      -- No foreign key to environments: the trail outlives the environments it talks about.
      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        environment_id INTEGER,
        edge_id TEXT,
        kind TEXT NOT NULL,
        source_address TEXT,
        detail TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_events_by_time ON audit_events (at, id);
      CREATE INDEX audit_events_by_environment ON audit_events (environment_id, at, id);
    `,
  },
  {
    version: 2,
    name: "docker snapshots",
    sql: `
      -- The latest Docker snapshot per environment, replaced whole on each report; removing the
      -- environment removes it. The document is JSON because nothing queries inside it.
      CREATE TABLE snapshots (
        environment_id INTEGER PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
        collected_at INTEGER NOT NULL,
        json TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: "identity clone flag",
    sql: `
      -- The latest clone episode of a device's identity (docs/security.md, "Clones"): JSON
      -- {addresses, firstSeen, lastSeen}, NULL when none was seen.
      ALTER TABLE environments ADD COLUMN identity_clone TEXT;
    `,
  },
  {
    version: 4,
    name: "per-environment key secret",
    sql: `
      -- SHA-256 (hex) of the secret in a per-environment EDGE_KEY's 5th field; the secret itself
      -- is never stored. Cleared once a device has claimed the environment. Keys made before
      -- this step have none: no device can claim their environment until a new key is made.
      ALTER TABLE environments ADD COLUMN edge_key_secret_hash TEXT CHECK (edge_key_secret_hash IS NULL OR length(edge_key_secret_hash) = 64);
    `,
  },
  {
    version: 5,
    name: "device identity lifecycle",
    sql: `
      -- docs/identity.md. The CSR a device sent to enroll (DER), kept until a certificate is
      -- issued for its key, and that key's SPKI SHA-256 (hex), shown in the Waiting Room.
      ALTER TABLE environments ADD COLUMN enrollment_csr BLOB;
      ALTER TABLE environments ADD COLUMN enrollment_key_sha256 TEXT CHECK (enrollment_key_sha256 IS NULL OR length(enrollment_key_sha256) = 64);
      -- JSON {previousSerial, sameKey, at}: the device came back with an expired certificate.
      ALTER TABLE environments ADD COLUMN reenrollment TEXT;

      -- Every certificate the server issued to a device (the CA's JSON index holds server
      -- certificates only). Serial: lowercase hex without leading zeros, as X509Certificate shows it.
      CREATE TABLE device_certificates (
        serial TEXT PRIMARY KEY,
        environment_id INTEGER NOT NULL,
        edge_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        ca_spki_sha256 TEXT NOT NULL CHECK (length(ca_spki_sha256) = 64),
        spki_sha256 TEXT NOT NULL CHECK (length(spki_sha256) = 64),
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        issued_at INTEGER NOT NULL,
        reason TEXT NOT NULL CHECK (reason IN ('enrollment', 'renewal', 'reissue', 'rotation')),
        revoked_at INTEGER,
        revocation_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
      ) STRICT;
      CREATE INDEX device_certificates_by_environment ON device_certificates (environment_id, not_after);
      CREATE INDEX device_certificates_by_expiry ON device_certificates (not_after);
      CREATE INDEX device_certificates_revoked ON device_certificates (revoked_at) WHERE revoked_at IS NOT NULL;

      -- The built-in CA's rotation (at most one at a time): phase and the two CAs' directories
      -- under --data, by SPKI SHA-256.
      CREATE TABLE pki_rotation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        phase TEXT NOT NULL,
        from_ca TEXT NOT NULL,
        to_ca TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: "device certificate PEM",
    sql: `
      -- The issued certificate itself (PEM, a few hundred bytes), so a device that asks again
      -- with the same key gets the same certificate back instead of a second one (docs/identity.md).
      ALTER TABLE device_certificates ADD COLUMN certificate_pem TEXT;
    `,
  },
  {
    version: 7,
    name: "CA rotation window",
    sql: `
      -- The window over which a rotation spreads the fleet's renewals (seconds), so an agent that
      -- connects after a restart mid-rotation is told what is left of it (docs/identity.md).
      ALTER TABLE pki_rotation ADD COLUMN window_seconds INTEGER NOT NULL DEFAULT 600 CHECK (window_seconds BETWEEN 0 AND 86400);
    `,
  },
];

/**
 * Steps from version 8 on, each written for both engines and appended to both lists. Reserved:
 * 8 = cluster tables (replicas, edge_sessions, cluster_files) and revoked_logins; 9 = the Docker
 * summary beside each snapshot; 10 = the CRL numbers of the device CAs.
 */
const dialectSteps: readonly DialectMigration[] = [
  {
    version: 8,
    name: "cluster",
    // docs/architecture.md "Scale-out". Replicas by id with their peer address and when they
    // were last seen; which replica holds each device's session (no foreign key to replicas: a
    // replica may claim before its first row lands, and pruning a dead one deletes its rows);
    // the files every replica needs (content opaque: the caller encrypts keys); the logout
    // deny-list until each token expires.
    sqlite: `
      CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        peer_address TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX replicas_by_seen ON replicas (seen_at);

      CREATE TABLE edge_sessions (
        environment_id INTEGER PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
        replica_id TEXT NOT NULL,
        opened_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX edge_sessions_by_replica ON edge_sessions (replica_id);

      CREATE TABLE cluster_files (
        name TEXT PRIMARY KEY,
        content BLOB NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE revoked_logins (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX revoked_logins_by_expiry ON revoked_logins (expires_at);
    `,
    postgres: `
      CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        peer_address TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        seen_at BIGINT NOT NULL
      );
      CREATE INDEX replicas_by_seen ON replicas (seen_at);

      CREATE TABLE edge_sessions (
        environment_id BIGINT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
        replica_id TEXT NOT NULL,
        opened_at BIGINT NOT NULL
      );
      CREATE INDEX edge_sessions_by_replica ON edge_sessions (replica_id);

      CREATE TABLE cluster_files (
        name TEXT PRIMARY KEY,
        content BYTEA NOT NULL,
        updated_at BIGINT NOT NULL
      );

      CREATE TABLE revoked_logins (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX revoked_logins_by_expiry ON revoked_logins (expires_at);
    `,
  },
  {
    version: 9,
    name: "snapshot summary",
    // The counts lists show of each Docker snapshot (JSON DockerSummary, docker/docker-summary.ts),
    // written with the snapshot so the Home list never reads full snapshots; existing rows are
    // summarised here with the same rules. Indexes for the list's sort by name (case-insensitive,
    // byte order on both engines; with the Home / Waiting Room filter's columns, so a page and
    // the count are read from the index alone) and by creation, and for counting environments
    // that present the same client certificate (docs/architecture.md "Scale-out / Store").
    sqlite: `
      ALTER TABLE snapshots ADD COLUMN summary TEXT;
      UPDATE snapshots SET summary = json_object(
        'dockerVersion', json_extract(snapshots.json, '$.engine.version'),
        'runningContainers', (SELECT count(*) FROM json_each(snapshots.json, '$.containers') AS c WHERE json_extract(c.value, '$.state') = 'running'),
        'stoppedContainers', (SELECT count(*) FROM json_each(snapshots.json, '$.containers') AS c WHERE json_extract(c.value, '$.state') IN ('exited', 'created', 'dead')),
        'healthyContainers', (SELECT count(*) FROM json_each(snapshots.json, '$.containers') AS c WHERE instr(json_extract(c.value, '$.status'), '(healthy)') > 0),
        'unhealthyContainers', (SELECT count(*) FROM json_each(snapshots.json, '$.containers') AS c WHERE instr(json_extract(c.value, '$.status'), '(unhealthy)') > 0),
        'images', json_array_length(snapshots.json, '$.images'),
        'volumes', json_array_length(snapshots.json, '$.volumes'),
        'cpus', json_extract(snapshots.json, '$.host.cpus'),
        'memoryBytes', CAST(round(json_extract(snapshots.json, '$.host.memoryBytes')) AS INTEGER)
      );
      CREATE INDEX environments_by_name ON environments (lower(name), id, user_trusted, edge_id);
      CREATE INDEX environments_by_created ON environments (created_at, id);
      CREATE INDEX environments_by_client_certificate ON environments (json_extract(client_certificate, '$.fingerprintSha256'));
    `,
    postgres: `
      ALTER TABLE snapshots ADD COLUMN summary TEXT;
      UPDATE snapshots SET summary = (
        SELECT json_build_object(
          'dockerVersion', j -> 'engine' ->> 'version',
          'runningContainers', (SELECT count(*) FROM jsonb_array_elements(j -> 'containers') AS c WHERE c ->> 'state' = 'running'),
          'stoppedContainers', (SELECT count(*) FROM jsonb_array_elements(j -> 'containers') AS c WHERE c ->> 'state' IN ('exited', 'created', 'dead')),
          'healthyContainers', (SELECT count(*) FROM jsonb_array_elements(j -> 'containers') AS c WHERE strpos(c ->> 'status', '(healthy)') > 0),
          'unhealthyContainers', (SELECT count(*) FROM jsonb_array_elements(j -> 'containers') AS c WHERE strpos(c ->> 'status', '(unhealthy)') > 0),
          'images', jsonb_array_length(j -> 'images'),
          'volumes', jsonb_array_length(j -> 'volumes'),
          'cpus', (j -> 'host' ->> 'cpus')::bigint,
          'memoryBytes', round((j -> 'host' ->> 'memoryBytes')::numeric)::bigint
        )::text
        FROM (SELECT snapshots.json::jsonb AS j) AS parsed
      );
      CREATE INDEX environments_by_name ON environments ((lower(name) COLLATE "C"), id, user_trusted, edge_id);
      CREATE INDEX environments_by_created ON environments (created_at, id);
      CREATE INDEX environments_by_client_certificate ON environments (((client_certificate::jsonb) ->> 'fingerprintSha256'));
    `,
  },
  {
    version: 10,
    name: "crl numbers",
    // The last CRL number each built-in device CA signed (by SPKI SHA-256, hex): allocated with one
    // upsert, so whichever replica signs, a CA's numbers only grow (RFC 5280 5.2.3;
    // identity/crl-publisher.ts). Replaces DATA/crl-numbers.json, taken over at the first signing.
    sqlite: `
      CREATE TABLE crl_numbers (
        ca_spki_sha256 TEXT PRIMARY KEY,
        last_number INTEGER NOT NULL
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE crl_numbers (
        ca_spki_sha256 TEXT PRIMARY KEY,
        last_number BIGINT NOT NULL
      );
    `,
  },
  ...fleetMigrations,
  auditChain,
  rolesAndTokenScopes,
  teams,
];

/**
 * The SQLite schema, oldest first. Times are INTEGER milliseconds since the epoch; descriptive
 * nested records are JSON text, while everything a query filters on has its own column. Tables
 * are STRICT so a wrong type fails loudly.
 */
export const migrations: readonly Migration[] = [...sqliteSteps, ...dialectSteps.map(({ version, name, sqlite, sqliteData }) => ({ version, name, sql: sqlite, ...(sqliteData ? { sqliteData } : {}) }))];

/**
 * The PostgreSQL schema: one baseline step equal to SQLite's schema at version 7 (a PostgreSQL
 * database never existed before it), then the steps written for both engines. BIGINT
 * milliseconds, SMALLINT 0/1 flags with CHECKs, TEXT JSON, BYTEA, identity ids never reused,
 * user names unique case-insensitively through an index on lower(username).
 */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 7,
    name: "baseline (SQLite schema version 7)",
    sql: `
      CREATE TABLE environments (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        edge_id TEXT UNIQUE,
        edge_key_environment SMALLINT NOT NULL CHECK (edge_key_environment IN (0, 1)),
        user_trusted SMALLINT NOT NULL CHECK (user_trusted IN (0, 1)),
        checkin_interval_seconds BIGINT CHECK (checkin_interval_seconds > 0),
        created_at BIGINT NOT NULL,
        last_check_in_at BIGINT,
        agent TEXT,
        source_address TEXT,
        client_certificate TEXT,
        identity_kind TEXT CHECK (identity_kind IN ('certificate', 'token')),
        identity_value TEXT,
        identity_conflict TEXT,
        identity_clone TEXT,
        edge_key_secret_hash TEXT CHECK (edge_key_secret_hash IS NULL OR length(edge_key_secret_hash) = 64),
        enrollment_csr BYTEA,
        enrollment_key_sha256 TEXT CHECK (enrollment_key_sha256 IS NULL OR length(enrollment_key_sha256) = 64),
        reenrollment TEXT,
        CHECK ((identity_kind IS NULL) = (identity_value IS NULL))
      );
      CREATE INDEX environments_by_trust ON environments (user_trusted, id);

      CREATE TABLE users (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX users_by_name ON users (lower(username));

      CREATE TABLE api_tokens (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        description TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT
      );
      CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

      CREATE TABLE settings (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        document TEXT NOT NULL
      );

      -- No foreign key to environments: the trail outlives the environments it talks about.
      CREATE TABLE audit_events (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        environment_id BIGINT,
        edge_id TEXT,
        kind TEXT NOT NULL,
        source_address TEXT,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_events_by_time ON audit_events (at, id);
      CREATE INDEX audit_events_by_environment ON audit_events (environment_id, at, id);

      CREATE TABLE snapshots (
        environment_id BIGINT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
        collected_at BIGINT NOT NULL,
        json TEXT NOT NULL
      );

      CREATE TABLE device_certificates (
        serial TEXT PRIMARY KEY,
        environment_id BIGINT NOT NULL,
        edge_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        ca_spki_sha256 TEXT NOT NULL CHECK (length(ca_spki_sha256) = 64),
        spki_sha256 TEXT NOT NULL CHECK (length(spki_sha256) = 64),
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        issued_at BIGINT NOT NULL,
        reason TEXT NOT NULL CHECK (reason IN ('enrollment', 'renewal', 'reissue', 'rotation')),
        revoked_at BIGINT,
        revocation_reason TEXT,
        certificate_pem TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
      );
      CREATE INDEX device_certificates_by_environment ON device_certificates (environment_id, not_after);
      CREATE INDEX device_certificates_by_expiry ON device_certificates (not_after);
      CREATE INDEX device_certificates_revoked ON device_certificates (revoked_at) WHERE revoked_at IS NOT NULL;

      CREATE TABLE pki_rotation (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        phase TEXT NOT NULL,
        from_ca TEXT NOT NULL,
        to_ca TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        window_seconds BIGINT NOT NULL DEFAULT 600 CHECK (window_seconds BETWEEN 0 AND 86400)
      );
    `,
  },
  ...dialectSteps.map(({ version, name, postgres, postgresData }) => ({ version, name, sql: postgres, ...(postgresData ? { postgresData } : {}) })),
];

/** The schema version this build writes. */
export function latestSchemaVersion(list: readonly Migration[] = migrations): number {
  return list.at(-1)?.version ?? 0;
}

function checkOrder(list: readonly Migration[], first = 1): void {
  list.forEach((migration, index) => {
    if (migration.version !== index + first) {
      throw new ServerError("internal", `Migration "${migration.name}" has version ${migration.version}; expected ${index + first}. Migrations must be numbered ${first}, ${first + 1}, ${first + 2}… without gaps.`);
    }
  });
}

function newerSchema(current: number, latest: number): ServerError {
  return new ServerError(
    "store_failed",
    `The database is at schema version ${current}, but this Pier knows versions up to ${latest}: it was written by a newer Pier. Run that version again, or restore a backup made before the upgrade.`,
    { details: { schemaVersion: current, supportedVersion: latest } },
  );
}

function failedStep(migration: Migration, error: unknown): ServerError {
  return new ServerError("store_failed", `Database migration ${migration.version} ("${migration.name}") failed: ${(error as Error).message}. Nothing was changed.`, { cause: error });
}

/**
 * Brings an open database to the latest schema of its engine (`applyMigrations` on SQLite,
 * `applyPostgresMigrations` on PostgreSQL).
 *
 * @returns the versions applied now (empty when the schema was current)
 * @example
 * await migrateDatabase(await openDatabase({ path: "pier.db" }));
 */
export async function migrateDatabase(database: SqlDatabase): Promise<number[]> {
  const sqlite = sqliteConnectionOf(database);
  // Through kysely's connection, so another store on the same file in this process is not mid-transaction.
  if (sqlite !== undefined) return database.db.connection().execute(() => Promise.resolve().then(() => applyMigrations(sqlite.connection)));
  return applyPostgresMigrations(database.db);
}

// Any constant shared by every Pier: replicas starting together wait for each other here.
const migrationLockKey = 0x7069_6572; // "pier"

/**
 * Brings a PostgreSQL database to the latest schema in one transaction holding
 * `pg_advisory_xact_lock`, so replicas starting together apply each step once (the others wait,
 * then find the schema current). PostgreSQL's DDL is transactional: a failed step leaves the
 * database as it was. Refuses a database written by a newer Pier.
 *
 * @returns the versions applied now
 * @example
 * await applyPostgresMigrations(database.db);
 */
export async function applyPostgresMigrations(db: Kysely<Database>, list: readonly Migration[] = postgresMigrations): Promise<number[]> {
  checkOrder(list, list[0]?.version ?? 1);
  const latest = latestSchemaVersion(list);
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(migrationLockKey)})`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`.execute(trx);
    const row = await trx.selectFrom("schema_migrations").select((eb) => eb.fn.max("version").as("version")).executeTakeFirst();
    const current = Number(row?.version ?? 0);
    if (current > latest) throw newerSchema(current, latest);
    const applied: number[] = [];
    for (const migration of list.filter((step) => step.version > current)) {
      try {
        await sql.raw(migration.sql).execute(trx);
        await migration.postgresData?.(trx);
      } catch (error) {
        throw failedStep(migration, error);
      }
      await trx.insertInto("schema_migrations").values({ version: migration.version, name: migration.name, applied_at: Date.now() }).execute();
      applied.push(migration.version);
    }
    return applied;
  });
}

/**
 * Brings the database to the latest schema: creates `schema_migrations` if needed and applies the
 * missing steps, all in one IMMEDIATE transaction, so a failed step leaves the database as it was
 * and two servers starting on the same file cannot both apply a step. Refuses a database written by
 * a newer Pier rather than guessing at a schema it does not know.
 *
 * @returns the versions applied now (empty when the schema was current)
 * @example
 * applyMigrations(new DatabaseSync("pier.db"));
 */
export function applyMigrations(db: DatabaseSync, list: readonly Migration[] = migrations): number[] {
  checkOrder(list);
  const latest = latestSchemaVersion(list);
  const applied: number[] = [];
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT`);
    const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations").get();
    const current = Number(row?.["version"] ?? 0);
    if (current > latest) throw newerSchema(current, latest);
    const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
    for (const migration of list.slice(current)) {
      try {
        db.exec(migration.sql);
        migration.sqliteData?.(db);
      } catch (error) {
        throw failedStep(migration, error);
      }
      record.run(migration.version, migration.name, Date.now());
      applied.push(migration.version);
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  return applied;
}
