import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { ServerError } from "../errors.ts";
import { type InventoryPage, type InventoryQuery, inventoryPage, recordedSerials } from "./device-certificate-inventory.ts";
import { type Row, StatementCache, columnReaders } from "./sqlite-columns.ts";

/** Why a device certificate was issued (docs/identity.md "States"). */
export type DeviceCertificateReason = "enrollment" | "renewal" | "reissue" | "rotation";

/**
 * A certificate the server issued to a device from its built-in CA: one row of
 * `device_certificates`. Serials are lowercase hex without leading zeros, as `X509Certificate`
 * shows them.
 */
export interface DeviceCertificate {
  serial: string;
  environmentId: number;
  edgeId: string;
  /** One line, `CN=…` as `X509Certificate.subject` shows it with `, ` between attributes. */
  subject: string;
  issuer: string;
  /** SPKI SHA-256 (hex) of the CA that signed it, so a rotation knows who moved. */
  caSpkiSha256: string;
  /** SPKI SHA-256 (hex) of the device's key. */
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date;
  reason: DeviceCertificateReason;
  revokedAt: Date | null;
  revocationReason: string | null;
  /** The certificate itself (PEM), so it can be delivered again without issuing another one. */
  certificatePem: string;
}

/** The device certificates the server issued. */
export interface DeviceCertificateStore {
  /** Records an issued certificate; `conflict` if its serial is already recorded. */
  insert(certificate: DeviceCertificate): Promise<void>;
  get(serial: string): Promise<DeviceCertificate | null>;
  /** One environment's certificates, newest first. */
  listByEnvironment(environmentId: number): Promise<DeviceCertificate[]>;
  /** Every certificate, newest first. */
  list(): Promise<DeviceCertificate[]>;
  /** A page of the inventory with each certificate's status (`device-certificate-inventory.ts`). */
  inventory(query: InventoryQuery): Promise<InventoryPage>;
  /** Which of these serials are recorded (Pier issued them). */
  recordedSerials(serials: readonly string[]): Promise<Set<string>>;
  /**
   * Marks these certificates revoked (those recorded and not revoked yet); returns the rows it
   * changed, as they are now. Serials not recorded are ignored.
   */
  revoke(serials: readonly string[], revocation: CertificateRevocation): Promise<DeviceCertificate[]>;
  /** Revokes every certificate of the environment that is neither revoked nor expired at `revocation.at`; returns them. */
  revokeForEnvironment(environmentId: number, revocation: CertificateRevocation): Promise<DeviceCertificate[]>;
  /** Every revoked certificate that has not expired at `now` (what the CRL and the in-memory set list). */
  revokedUnexpired(now: Date): Promise<DeviceCertificate[]>;
  /**
   * Each existing environment's newest unrevoked certificate when it expires between `after`
   * and `before`, with no unrevoked certificate of the environment expiring later (the alert
   * scan: index range on `not_after`, never a read of the whole table).
   */
  expiringWithoutRenewal(after: Date, before: Date): Promise<DeviceCertificate[]>;
}

/** When and why certificates are revoked; the reason is an RFC 5280 name (`keyCompromise`…). */
export interface CertificateRevocation {
  readonly at: Date;
  readonly reason: string;
}

const reasons: readonly string[] = ["enrollment", "renewal", "reissue", "rotation"] satisfies DeviceCertificateReason[];

function corrupt(column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable device certificate (column ${column}); restore a backup or remove the record.`);
}

const { textOf, integerOf } = columnReaders(corrupt);

function decode(row: Row): DeviceCertificate {
  const reason = textOf(row, "reason");
  if (!reasons.includes(reason)) throw corrupt("reason");
  const revokedAt = row["revoked_at"] === null ? null : new Date(integerOf(row, "revoked_at"));
  return {
    serial: textOf(row, "serial"),
    environmentId: integerOf(row, "environment_id"),
    edgeId: textOf(row, "edge_id"),
    subject: textOf(row, "subject"),
    issuer: textOf(row, "issuer"),
    caSpkiSha256: textOf(row, "ca_spki_sha256"),
    spkiSha256: textOf(row, "spki_sha256"),
    notBefore: new Date(integerOf(row, "not_before")),
    notAfter: new Date(integerOf(row, "not_after")),
    issuedAt: new Date(integerOf(row, "issued_at")),
    reason: reason as DeviceCertificateReason,
    revokedAt,
    revocationReason: row["revocation_reason"] === null ? null : textOf(row, "revocation_reason"),
    certificatePem: row["certificate_pem"] === null ? "" : textOf(row, "certificate_pem"),
  };
}

function encode(certificate: DeviceCertificate): Record<string, SQLInputValue> {
  return {
    serial: certificate.serial,
    environment_id: certificate.environmentId,
    edge_id: certificate.edgeId,
    subject: certificate.subject,
    issuer: certificate.issuer,
    ca_spki_sha256: certificate.caSpkiSha256,
    spki_sha256: certificate.spkiSha256,
    not_before: certificate.notBefore.getTime(),
    not_after: certificate.notAfter.getTime(),
    issued_at: certificate.issuedAt.getTime(),
    reason: certificate.reason,
    revoked_at: certificate.revokedAt?.getTime() ?? null,
    revocation_reason: certificate.revocationReason,
    certificate_pem: certificate.certificatePem,
  };
}

const columns = Object.keys(encode({ notBefore: new Date(0), notAfter: new Date(0), issuedAt: new Date(0), revokedAt: null } as DeviceCertificate));

/**
 * `DeviceCertificateStore` on the SQLite store's database. `SqliteStore` builds it with its own
 * connection and error wrapper (`call`), so failures read like every other store failure.
 */
export class SqliteDeviceCertificates implements DeviceCertificateStore {
  readonly #db: DatabaseSync;
  readonly #call: <T>(work: () => T) => Promise<T>;
  readonly #statements: StatementCache;

  constructor(db: DatabaseSync, call: <T>(work: () => T) => Promise<T>) {
    this.#db = db;
    this.#call = call;
    this.#statements = new StatementCache(db);
  }

  insert(certificate: DeviceCertificate): Promise<void> {
    return this.#call(() => {
      try {
        this.#statements.prepare(`INSERT INTO device_certificates (${columns.join(", ")}) VALUES (${columns.map((c) => `:${c}`).join(", ")})`).run(encode(certificate));
      } catch (error) {
        if ((error as { errcode?: unknown }).errcode === 1555 || (error as { errcode?: unknown }).errcode === 2067) {
          throw new ServerError("conflict", `A device certificate with serial ${certificate.serial} is already recorded.`, { cause: error });
        }
        throw error;
      }
    });
  }

  get(serial: string): Promise<DeviceCertificate | null> {
    return this.#call(() => {
      const row = this.#statements.prepare("SELECT * FROM device_certificates WHERE serial = ?").get(serial);
      return row === undefined ? null : decode(row);
    });
  }

  listByEnvironment(environmentId: number): Promise<DeviceCertificate[]> {
    return this.#call(() => this.#statements.prepare("SELECT * FROM device_certificates WHERE environment_id = ? ORDER BY issued_at DESC, not_after DESC").all(environmentId).map(decode));
  }

  expiringWithoutRenewal(after: Date, before: Date): Promise<DeviceCertificate[]> {
    return this.#call(() =>
      this.#statements.prepare(
        `SELECT c.* FROM device_certificates c JOIN environments e ON e.id = c.environment_id
         WHERE c.revoked_at IS NULL AND c.not_after > ? AND c.not_after <= ?
           AND NOT EXISTS (SELECT 1 FROM device_certificates n WHERE n.environment_id = c.environment_id AND n.revoked_at IS NULL AND n.not_after > c.not_after)`,
      )
        .all(after.getTime(), before.getTime())
        .map(decode),
    );
  }

  list(): Promise<DeviceCertificate[]> {
    return this.#call(() => this.#statements.prepare("SELECT * FROM device_certificates ORDER BY issued_at DESC, not_after DESC").all().map(decode));
  }

  inventory(query: InventoryQuery): Promise<InventoryPage> {
    return this.#call(() => inventoryPage((sql) => this.#statements.prepare(sql), query));
  }

  recordedSerials(serials: readonly string[]): Promise<Set<string>> {
    return this.#call(() => recordedSerials((sql) => this.#statements.prepare(sql), serials));
  }

  revoke(serials: readonly string[], revocation: CertificateRevocation): Promise<DeviceCertificate[]> {
    return this.#call(() => {
      const update = this.#statements.prepare("UPDATE device_certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL RETURNING *");
      const changed: DeviceCertificate[] = [];
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        for (const serial of new Set(serials)) {
          const row = update.get(revocation.at.getTime(), revocation.reason, serial);
          if (row !== undefined) changed.push(decode(row));
        }
        this.#db.exec("COMMIT");
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
      return changed;
    });
  }

  revokeForEnvironment(environmentId: number, revocation: CertificateRevocation): Promise<DeviceCertificate[]> {
    const at = revocation.at.getTime();
    return this.#call(() =>
      this.#statements.prepare("UPDATE device_certificates SET revoked_at = ?, revocation_reason = ? WHERE environment_id = ? AND revoked_at IS NULL AND not_after > ? RETURNING *")
        .all(at, revocation.reason, environmentId, at)
        .map(decode),
    );
  }

  revokedUnexpired(now: Date): Promise<DeviceCertificate[]> {
    return this.#call(() => this.#statements.prepare("SELECT * FROM device_certificates WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at").all(now.getTime()).map(decode));
  }

  /** Forgets prepared statements (the store is closing). */
  clear(): void {
    this.#statements.clear();
  }
}
