import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { type DockerSnapshot, dockerSnapshotSchema } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import { applyMigrations } from "./migrations.ts";
import { type DeviceCertificateStore, SqliteDeviceCertificates } from "./device-certificates.ts";
import { type PkiRotationStore, SqlitePkiRotation } from "./pki-rotation.ts";
import {
  type ApiToken,
  type ApiTokenStore,
  type AuditEvent,
  type AuditLog,
  type CheckIn,
  type ClientCertificateInfo,
  type Environment,
  type EnvironmentPatch,
  type EnvironmentStore,
  type IdentityClone,
  type IdentityConflict,
  type NewApiToken,
  type NewAuditEvent,
  type NewEnvironment,
  type NewUser,
  type Reenrollment,
  type Settings,
  type SettingsPatch,
  type SettingsStore,
  type SnapshotStore,
  type Store,
  type StoredSnapshot,
  type User,
  type UserStore,
  defaultSettings,
} from "./store.ts";

type Row = Record<string, SQLOutputValue>;
type Parameters = Record<string, SQLInputValue>;

/** Options for `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing (ms, default 5000). */
  busyTimeoutMs?: number;
}

// SQLite extended result codes (https://sqlite.org/rescode.html) that mean "the caller's fault".
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_BUSY = 5;

function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" ? code : undefined;
}

/** Turns anything node:sqlite throws into a ServerError whose message says what to do. */
function storeError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const errcode = sqliteCode(error);
  if (errcode !== undefined && (errcode & 0xff) === SQLITE_BUSY) {
    return new ServerError("unavailable", "The database is locked by another process; try again in a moment.", { cause: error });
  }
  return new ServerError("store_failed", `The database failed: ${message}`, { cause: error });
}

function corrupt(what: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable value (${what}); restore a backup or remove the record.`);
}

// Row readers: node:sqlite returns loosely typed rows; these check what the schema promises.
function integer(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw corrupt(`column ${column}`);
  return value;
}
function integerOrNull(row: Row, column: string): number | null {
  return row[column] === null ? null : integer(row, column);
}
function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw corrupt(`column ${column}`);
  return value;
}
function textOrNull(row: Row, column: string): string | null {
  return row[column] === null ? null : text(row, column);
}
function dateOrNull(row: Row, column: string): Date | null {
  const millis = integerOrNull(row, column);
  return millis === null ? null : new Date(millis);
}
function json(row: Row, column: string): unknown {
  const value = textOrNull(row, column);
  if (value === null) return null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw corrupt(`column ${column}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function strings<K extends string>(value: unknown, keys: readonly K[], what: string): Record<K, string> {
  if (!isRecord(value) || keys.some((key) => typeof value[key] !== "string")) throw corrupt(what);
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Record<K, string>;
}

function millis(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(value)) throw new ServerError("bad_request", `${field} must be a valid Date.`, { field });
  return value;
}
function millisOrNull(date: Date | null, field: string): number | null {
  return date === null ? null : millis(date, field);
}

function definedEntries<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}

const agentKeys = ["version", "platform", "hostname", "os", "arch"] as const;
const certificateKeys = ["subject", "serialNumber", "fingerprintSha256", "issuer"] as const;

function decodeEnvironment(row: Row): Environment {
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
    enrollmentCsr: blobOrNull(row, "enrollment_csr"),
    enrollmentKeySha256: textOrNull(row, "enrollment_key_sha256"),
    reenrollment: reenrollment === null ? null : decodeReenrollment(reenrollment),
  };
}

function blobOrNull(row: Row, column: string): Buffer | null {
  const value = row[column];
  if (value === null) return null;
  if (!(value instanceof Uint8Array)) throw corrupt(`column ${column}`);
  return Buffer.from(value);
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

function encodeEnvironment(environment: Omit<Environment, "id">): Parameters {
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
    client_certificate: certificate === null ? null : JSON.stringify({ ...certificate, notAfter: millis(certificate.notAfter, "clientCertificate.notAfter"), ...(certificate.notBefore ? { notBefore: millis(certificate.notBefore, "clientCertificate.notBefore") } : {}) }),
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

const environmentColumns = [
  "name",
  "type",
  "edge_id",
  "edge_key_environment",
  "user_trusted",
  "checkin_interval_seconds",
  "created_at",
  "last_check_in_at",
  "agent",
  "source_address",
  "client_certificate",
  "identity_kind",
  "identity_value",
  "identity_conflict",
  "identity_clone",
  "edge_key_secret_hash",
  "enrollment_csr",
  "enrollment_key_sha256",
  "reenrollment",
] as const;

function decodeUser(row: Row): User {
  const role = text(row, "role");
  if (role !== "admin") throw corrupt(`user role "${role}"`);
  return { id: integer(row, "id"), username: text(row, "username"), passwordHash: text(row, "password_hash"), role, createdAt: new Date(integer(row, "created_at")) };
}

function decodeApiToken(row: Row): ApiToken {
  return {
    id: integer(row, "id"),
    userId: integer(row, "user_id"),
    description: text(row, "description"),
    tokenHash: text(row, "token_hash"),
    prefix: text(row, "prefix"),
    createdAt: new Date(integer(row, "created_at")),
    lastUsedAt: dateOrNull(row, "last_used_at"),
  };
}

function decodeAuditEvent(row: Row): AuditEvent {
  const detail = json(row, "detail");
  if (!isRecord(detail)) throw corrupt("audit detail");
  return {
    id: integer(row, "id"),
    at: new Date(integer(row, "at")),
    environmentId: integerOrNull(row, "environment_id"),
    edgeId: textOrNull(row, "edge_id"),
    kind: text(row, "kind"),
    sourceAddress: textOrNull(row, "source_address"),
    detail,
  };
}

/** Checks a snapshot against the protocol's schema, naming the first invalid field. */
function checkSnapshot(value: unknown, fail: (field: string, rule: string) => ServerError): DockerSnapshot {
  const result = dockerSnapshotSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw fail(issue?.path.join(".") || "(root)", issue?.message ?? "invalid");
}

function decodeSnapshot(row: Row): StoredSnapshot {
  const snapshot = checkSnapshot(json(row, "json"), (field) => corrupt(`snapshot field ${field}`));
  return { at: new Date(integer(row, "collected_at")), snapshot };
}

/** The longest automatic re-issue window: 397 days, the longest device certificate lifetime. */
const maxAutoReissueWithinSeconds = 397 * 86_400;

const settingsKeys: readonly string[] = ["edgeComputeEnabled", "edgeAgentCheckinInterval", "trustOnFirstConnect", "edgePortainerUrl", "edgeTunnelServerAddress", "trustDomain", "bindCommonName", "autoReissueWithinSeconds", "webhookUrl", "webhookSecret", "alertExpiryDays"] satisfies (keyof Settings)[];

/** Reads the stored settings document, keeping only known fields of the right type. */
function decodeSettings(document: Record<string, unknown>): Settings {
  const settings: Settings = { ...defaultSettings };
  for (const key of ["edgeComputeEnabled", "trustOnFirstConnect"] as const) {
    const value = document[key];
    if (typeof value === "boolean") settings[key] = value;
  }
  const interval = document["edgeAgentCheckinInterval"];
  if (typeof interval === "number") settings.edgeAgentCheckinInterval = interval;
  for (const key of ["edgePortainerUrl", "edgeTunnelServerAddress", "trustDomain", "webhookUrl", "webhookSecret"] as const) {
    const value = document[key];
    if (typeof value === "string") settings[key] = value;
  }
  if (typeof document["bindCommonName"] === "boolean") settings.bindCommonName = document["bindCommonName"];
  if (typeof document["autoReissueWithinSeconds"] === "number") settings.autoReissueWithinSeconds = document["autoReissueWithinSeconds"];
  if (typeof document["alertExpiryDays"] === "number") settings.alertExpiryDays = document["alertExpiryDays"];
  return settings;
}

/** Checks the merged document before it is written; values are unknown because they come from a patch or the file. */
function checkSettings(settings: Record<string, unknown>): void {
  const bad = (field: string, rule: string) => new ServerError("bad_request", `Setting ${field} ${rule}.`, { field });
  if (typeof settings["edgeComputeEnabled"] !== "boolean") throw bad("edgeComputeEnabled", "must be true or false");
  if (typeof settings["trustOnFirstConnect"] !== "boolean") throw bad("trustOnFirstConnect", "must be true or false");
  const interval = settings["edgeAgentCheckinInterval"];
  if (typeof interval !== "number" || !Number.isSafeInteger(interval) || interval < 1 || interval > 86_400) throw bad("edgeAgentCheckinInterval", "must be a whole number of seconds from 1 to 86400");
  const url = settings["edgePortainerUrl"];
  if (url !== undefined && !(typeof url === "string" && /^https?:\/\//i.test(url) && URL.canParse(url))) throw bad("edgePortainerUrl", "must be an absolute http(s) URL");
  const tunnel = settings["edgeTunnelServerAddress"];
  if (tunnel !== undefined && !(typeof tunnel === "string" && /^[^\s/]+:\d{1,5}$/.test(tunnel))) throw bad("edgeTunnelServerAddress", 'must be "host:port"');
  // A SPIFFE trust domain is a DNS-like name: lowercase letters, digits, dots, dashes, underscores (SPIFFE ID spec §2.1).
  const domain = settings["trustDomain"];
  if (domain !== undefined && !(typeof domain === "string" && /^[a-z0-9._-]{1,253}$/.test(domain))) throw bad("trustDomain", "must be 1 to 253 characters of lowercase letters, digits, '.', '-' or '_'");
  if (settings["bindCommonName"] !== undefined && typeof settings["bindCommonName"] !== "boolean") throw bad("bindCommonName", "must be true or false");
  // The longest certificate lifetime (397 days): a window past it would re-issue any certificate ever expired.
  const reissue = settings["autoReissueWithinSeconds"];
  if (reissue !== undefined && !(typeof reissue === "number" && Number.isSafeInteger(reissue) && reissue >= 0 && reissue <= maxAutoReissueWithinSeconds)) throw bad("autoReissueWithinSeconds", `must be a whole number of seconds from 0 (off) to ${maxAutoReissueWithinSeconds}`);
  // The webhook (alerts): https only, so alerts and their signature never cross the network in clear.
  const webhook = settings["webhookUrl"];
  if (webhook !== undefined && !(typeof webhook === "string" && webhook.length <= 2048 && /^https:\/\//i.test(webhook) && URL.canParse(webhook))) throw bad("webhookUrl", "must be an https:// URL of at most 2048 characters");
  const secret = settings["webhookSecret"];
  if (secret !== undefined && !(typeof secret === "string" && secret.length >= 16 && secret.length <= 256)) throw bad("webhookSecret", "must be 16 to 256 characters");
  const expiryDays = settings["alertExpiryDays"];
  if (expiryDays !== undefined && !(typeof expiryDays === "number" && Number.isSafeInteger(expiryDays) && expiryDays >= 1 && expiryDays <= 397)) throw bad("alertExpiryDays", "must be a whole number of days from 1 to 397");
}

/**
 * Creates the database file (and its directory) before SQLite does, so it is private from the
 * first byte. SQLite gives the -wal and -shm files it creates the database file's permissions,
 * so they follow. We do not touch `process.umask()`: it is process-wide (another module creating
 * files at the same moment would be affected) and cannot be set from worker threads.
 */
function preparePrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

/**
 * The `Store` on SQLite (`node:sqlite`), in one file such as `DATA/pier.db`: WAL journal (readers
 * never wait for the writer), foreign keys on, a busy timeout for a second process, migrations
 * applied at open, files readable by the owner only.
 *
 * Calls run synchronously inside the returned promise (node:sqlite has no async API); each is a
 * few index lookups, and `recordCheckIns` batches the only frequent write.
 *
 * @example
 * await using store = await SqliteStore.open("/var/lib/pier/pier.db");
 * const admin = await store.users.getByUsername("admin");
 */
export class SqliteStore implements Store, AsyncDisposable {
  /** The database file. */
  readonly path: string;
  readonly environments: EnvironmentStore;
  readonly users: UserStore;
  readonly apiTokens: ApiTokenStore;
  readonly settings: SettingsStore;
  readonly audit: AuditLog;
  readonly snapshots: SnapshotStore;
  readonly certificates: DeviceCertificateStore;
  readonly #certificates: SqliteDeviceCertificates;
  readonly rotation: PkiRotationStore;
  readonly #rotation: SqlitePkiRotation;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.environments = {
      create: (input) => this.#call(() => this.#createEnvironment(input)),
      get: (id) => this.#call(() => this.#getEnvironment(id)),
      getByEdgeId: (edgeId) => this.#call(() => this.#maybe(this.#row("SELECT * FROM environments WHERE edge_id = ?", edgeId), decodeEnvironment)),
      list: (filter) => this.#call(() => this.#listEnvironments(filter?.untrusted)),
      update: (id, patch) => this.#call(() => this.#transaction(() => this.#updateEnvironment(id, patch))),
      claim: (id, secretHash, patch) =>
        this.#call(() => this.#transaction(() => (this.#getEnvironment(id)?.edgeKeySecretHash === secretHash ? this.#updateEnvironment(id, patch) : null))),
      delete: (id) => this.#call(() => this.#statement("DELETE FROM environments WHERE id = ?").run(id).changes > 0),
      recordCheckIns: (batch) => this.#call(() => this.#recordCheckIns(batch)),
    };
    this.users = {
      create: (input) => this.#call(() => this.#createUser(input)),
      createFirst: (input) => this.#call(() => this.#createUser(input, { onlyIfNone: true })),
      setPasswordHash: (id, passwordHash) => this.#call(() => this.#statement("UPDATE users SET password_hash = ? WHERE id = ?").run(passwordHash, id).changes > 0),
      get: (id) => this.#call(() => this.#maybe(this.#row("SELECT * FROM users WHERE id = ?", id), decodeUser)),
      getByUsername: (username) => this.#call(() => this.#maybe(this.#row("SELECT * FROM users WHERE username = ?", username), decodeUser)),
      count: () => this.#call(() => integer(this.#row("SELECT COUNT(*) AS count FROM users") ?? {}, "count")),
    };
    this.apiTokens = {
      create: (input) => this.#call(() => this.#createApiToken(input)),
      findByHash: (tokenHash) => this.#call(() => this.#maybe(this.#row("SELECT * FROM api_tokens WHERE token_hash = ?", tokenHash), decodeApiToken)),
      touch: (id, at) =>
        this.#call(() => {
          this.#statement("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(millis(at, "at"), id);
        }),
      list: (filter) =>
        this.#call(() => {
          const rows = filter?.userId === undefined ? this.#statement("SELECT * FROM api_tokens ORDER BY id").all() : this.#statement("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id").all(filter.userId);
          return rows.map(decodeApiToken);
        }),
      delete: (id) => this.#call(() => this.#statement("DELETE FROM api_tokens WHERE id = ?").run(id).changes > 0),
    };
    this.settings = {
      get: () => this.#call(() => decodeSettings(this.#settingsDocument())),
      update: (patch) => this.#call(() => this.#transaction(() => this.#updateSettings(patch))),
    };
    this.audit = {
      append: (event) => this.#call(() => this.#appendAudit(event)),
      list: (filter) => this.#call(() => this.#listAudit(filter?.environmentId, filter?.limit)),
    };
    this.snapshots = {
      put: (environmentId, snapshot, at) => this.#call(() => this.#putSnapshot(environmentId, snapshot, at)),
      get: (environmentId) => this.#call(() => this.#maybe(this.#row("SELECT * FROM snapshots WHERE environment_id = ?", environmentId), decodeSnapshot)),
    };
    this.#certificates = new SqliteDeviceCertificates(db, (work) => this.#call(work));
    this.certificates = this.#certificates;
    this.#rotation = new SqlitePkiRotation(db, (work) => this.#call(work));
    this.rotation = this.#rotation;
  }

  /**
   * Opens (creating if needed) the database at `path` and migrates it to the current schema.
   * Rejects with `store_failed` if the file is not a Pier database or was written by a newer Pier.
   */
  static open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    let db: DatabaseSync | undefined;
    try {
      preparePrivateFile(path);
      db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000, enableForeignKeyConstraints: true });
      const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.["journal_mode"];
      if (mode !== "wal") throw new ServerError("store_failed", `SQLite refused WAL mode for ${path} (got ${String(mode)}); put the data directory on a local file system.`);
      // In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits.
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      applyMigrations(db);
      return Promise.resolve(new SqliteStore(path, db));
    } catch (error) {
      if (db?.isOpen) db.close();
      if (error instanceof ServerError) return Promise.reject(error);
      const failure = storeError(error);
      if (failure.code !== "store_failed") return Promise.reject(failure);
      return Promise.reject(
        new ServerError("store_failed", `Cannot open the database ${path}: ${error instanceof Error ? error.message : String(error)}. Check that it is a Pier database and that its directory is writable.`, { cause: error }),
      );
    }
  }

  close(): Promise<void> {
    this.#statements.clear();
    this.#certificates.clear();
    this.#rotation.clear();
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs a synchronous database call and reports its outcome as a promise of ServerErrors. */
  #call<T>(work: () => T): Promise<T> {
    try {
      if (!this.#db.isOpen) throw new ServerError("store_failed", "The store has been closed (the server is shutting down).");
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(storeError(error));
    }
  }

  #transaction<T>(work: () => T): T {
    // IMMEDIATE takes the write lock up front, so a read-modify-write cannot be overtaken by another process.
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #row(sql: string, ...parameters: SQLInputValue[]): Row | undefined {
    return this.#statement(sql).get(...parameters);
  }

  #maybe<T>(row: Row | undefined, decode: (row: Row) => T): T | null {
    return row === undefined ? null : decode(row);
  }

  #createEnvironment(input: NewEnvironment): Environment {
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
    checkEnvironment(environment);
    const columns = environmentColumns.join(", ");
    const values = environmentColumns.map((column) => `:${column}`).join(", ");
    try {
      return decodeEnvironment(this.#statement(`INSERT INTO environments (${columns}) VALUES (${values}) RETURNING *`).get(encodeEnvironment(environment)) ?? {});
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) {
        throw new ServerError("conflict", `An environment with EDGE_ID "${environment.edgeId}" already exists.`, { cause: error, details: { edgeId: environment.edgeId } });
      }
      throw error;
    }
  }

  #getEnvironment(id: number): Environment | null {
    return this.#maybe(this.#row("SELECT * FROM environments WHERE id = ?", id), decodeEnvironment);
  }

  #listEnvironments(untrusted: boolean | undefined): Environment[] {
    const rows = untrusted === undefined ? this.#statement("SELECT * FROM environments ORDER BY id").all() : this.#statement("SELECT * FROM environments WHERE user_trusted = ? ORDER BY id").all(untrusted ? 0 : 1);
    return rows.map(decodeEnvironment);
  }

  #updateEnvironment(id: number, patch: EnvironmentPatch): Environment {
    const current = this.#getEnvironment(id);
    if (current === null) throw new ServerError("not_found", `Environment ${id} does not exist.`, { details: { id } });
    const next: Environment = { ...current, ...definedEntries(patch), id, createdAt: current.createdAt };
    checkEnvironment(next);
    const assignments = environmentColumns.map((column) => `${column} = :${column}`).join(", ");
    try {
      return decodeEnvironment(this.#statement(`UPDATE environments SET ${assignments} WHERE id = :id RETURNING *`).get({ ...encodeEnvironment(next), id }) ?? {});
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) {
        throw new ServerError("conflict", `An environment with EDGE_ID "${next.edgeId}" already exists.`, { cause: error, details: { edgeId: next.edgeId } });
      }
      throw error;
    }
  }

  #recordCheckIns(batch: readonly CheckIn[]): void {
    if (batch.length === 0) return;
    const parameters = batch.map((checkIn) => ({ id: checkIn.id, at: millis(checkIn.at, "at") }));
    const update = this.#statement("UPDATE environments SET last_check_in_at = :at WHERE id = :id AND (last_check_in_at IS NULL OR last_check_in_at < :at)");
    this.#transaction(() => {
      for (const checkIn of parameters) update.run(checkIn);
    });
  }

  #createUser(input: NewUser): User;
  #createUser(input: NewUser, options: { onlyIfNone: true }): User | null;
  #createUser(input: NewUser, options?: { onlyIfNone: true }): User | null {
    const role = input.role ?? "admin";
    if (role !== "admin") throw new ServerError("bad_request", 'User role must be "admin".', { field: "role" });
    if (typeof input.username !== "string" || input.username.trim() === "") throw new ServerError("bad_request", "User name must be a non-empty string.", { field: "username" });
    // One statement: SQLite runs it under one write lock, so the check cannot be overtaken (issue 16).
    const sql = options?.onlyIfNone
      ? "INSERT INTO users (username, password_hash, role, created_at) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING *"
      : "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) RETURNING *";
    try {
      const row = this.#statement(sql).get(input.username, input.passwordHash, role, millis(input.createdAt ?? new Date(), "createdAt"));
      if (row === undefined && options?.onlyIfNone) return null;
      return decodeUser(row ?? {});
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) throw new ServerError("conflict", `A user named "${input.username}" already exists.`, { cause: error });
      throw error;
    }
  }

  #createApiToken(input: NewApiToken): ApiToken {
    try {
      const row = this.#statement("INSERT INTO api_tokens (user_id, description, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *").get(
        input.userId,
        input.description,
        input.tokenHash,
        input.prefix,
        millis(input.createdAt ?? new Date(), "createdAt"),
      );
      return decodeApiToken(row ?? {});
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_FOREIGNKEY) throw new ServerError("not_found", `User ${input.userId} does not exist.`, { cause: error });
      if (sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) throw new ServerError("conflict", "This access token is already registered.", { cause: error });
      throw error;
    }
  }

  #settingsDocument(): Record<string, unknown> {
    const row = this.#row("SELECT document FROM settings WHERE id = 1");
    if (row === undefined) return {};
    const document = json(row, "document");
    if (!isRecord(document)) throw corrupt("settings document");
    return document;
  }

  #updateSettings(patch: SettingsPatch): Settings {
    // Unknown keys in the stored document are kept, so nothing written by other code is lost.
    const document = this.#settingsDocument();
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      if (!settingsKeys.includes(key)) {
        throw new ServerError("bad_request", `Unknown setting "${key}".`, { field: key });
      }
      if (value === null) delete document[key];
      else document[key] = value;
    }
    checkSettings({ ...defaultSettings, ...document });
    this.#statement("INSERT INTO settings (id, document) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET document = excluded.document").run(JSON.stringify(document));
    return decodeSettings(document);
  }

  #appendAudit(event: NewAuditEvent): AuditEvent {
    const detail = event.detail ?? {};
    if (!isRecord(detail)) throw new ServerError("bad_request", "Audit detail must be an object.", { field: "detail" });
    const row = this.#statement("INSERT INTO audit_events (at, environment_id, edge_id, kind, source_address, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING *").get(
      millis(event.at ?? new Date(), "at"),
      event.environmentId ?? null,
      event.edgeId ?? null,
      event.kind,
      event.sourceAddress ?? null,
      JSON.stringify(detail),
    );
    return decodeAuditEvent(row ?? {});
  }

  #putSnapshot(environmentId: number, snapshot: DockerSnapshot, at: Date): void {
    const checked = checkSnapshot(snapshot, (field, rule) => new ServerError("bad_request", `Snapshot ${field}: ${rule}.`, { field }));
    try {
      this.#statement("INSERT INTO snapshots (environment_id, collected_at, json) VALUES (?, ?, ?) ON CONFLICT (environment_id) DO UPDATE SET collected_at = excluded.collected_at, json = excluded.json").run(
        environmentId,
        millis(at, "at"),
        JSON.stringify(checked),
      );
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_FOREIGNKEY) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`, { cause: error, details: { id: environmentId } });
      throw error;
    }
  }

  #listAudit(environmentId: number | undefined, limit = 100): AuditEvent[] {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new ServerError("bad_request", "The audit limit must be a positive whole number.", { field: "limit" });
    const capped = Math.min(limit, 1000);
    const rows =
      environmentId === undefined
        ? this.#statement("SELECT * FROM audit_events ORDER BY at DESC, id DESC LIMIT ?").all(capped)
        : this.#statement("SELECT * FROM audit_events WHERE environment_id = ? ORDER BY at DESC, id DESC LIMIT ?").all(environmentId, capped);
    return rows.map(decodeAuditEvent);
  }
}
