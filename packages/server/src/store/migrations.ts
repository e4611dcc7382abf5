import type { DatabaseSync } from "node:sqlite";
import { ServerError } from "../errors.ts";

/** One step of the SQLite schema. Versions start at 1 and increase by one; never edit a released step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The SQLite schema, oldest first. Times are INTEGER milliseconds since the epoch; descriptive
 * nested records (agent, client certificate, identity conflict) are JSON text, while everything a
 * query filters on has its own column. Tables are STRICT so a wrong type fails loudly.
 */
export const migrations: readonly Migration[] = [
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

/** The schema version this build writes. */
export function latestSchemaVersion(list: readonly Migration[] = migrations): number {
  return list.at(-1)?.version ?? 0;
}

function checkOrder(list: readonly Migration[]): void {
  list.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new ServerError("internal", `Migration "${migration.name}" has version ${migration.version}; expected ${index + 1}. Migrations must be numbered 1, 2, 3… without gaps.`);
    }
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
    if (current > latest) {
      throw new ServerError(
        "store_failed",
        `The database is at schema version ${current}, but this Pier knows versions up to ${latest}: it was written by a newer Pier. Run that version again, or restore a backup made before the upgrade.`,
        { details: { schemaVersion: current, supportedVersion: latest } },
      );
    }
    const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
    for (const migration of list.slice(current)) {
      try {
        db.exec(migration.sql);
      } catch (error) {
        throw new ServerError("store_failed", `Database migration ${migration.version} ("${migration.name}") failed: ${(error as Error).message}. Nothing was changed.`, { cause: error });
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
