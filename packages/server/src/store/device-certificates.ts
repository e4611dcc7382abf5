import { ServerError } from "../errors.ts";
import { type Row, columnReaders } from "./row-readers.ts";
import type { SqlDatabase } from "./database.ts";
import { type InventoryPage, type InventoryQuery, inventoryPage, recordedSerials } from "./device-certificate-inventory.ts";
import type { DeviceCertificatesTable } from "./schema.ts";
import { isUniqueViolation } from "./store-errors.ts";

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

/** The row of `certificate`, as `device_certificates` stores it. */
function toRow(certificate: DeviceCertificate): DeviceCertificatesTable {
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

/**
 * `DeviceCertificateStore` on the store's database, the same queries for SQLite and PostgreSQL;
 * every query goes through `database.run`, so failures read like every other store failure.
 *
 * @example
 * const certificates = new SqlDeviceCertificates(await openDatabase({ path: "pier.db" }));
 * await certificates.revokedUnexpired(new Date());
 */
export class SqlDeviceCertificates implements DeviceCertificateStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  insert(certificate: DeviceCertificate): Promise<void> {
    return this.#database.run(async (db) => {
      try {
        await db.insertInto("device_certificates").values(toRow(certificate)).execute();
      } catch (error) {
        if (isUniqueViolation(error)) throw new ServerError("conflict", `A device certificate with serial ${certificate.serial} is already recorded.`, { cause: error });
        throw error;
      }
    });
  }

  get(serial: string): Promise<DeviceCertificate | null> {
    return this.#database.run(async (db) => {
      const row = await db.selectFrom("device_certificates").selectAll().where("serial", "=", serial).executeTakeFirst();
      return row === undefined ? null : decode(row);
    });
  }

  listByEnvironment(environmentId: number): Promise<DeviceCertificate[]> {
    return this.#database.run(async (db) =>
      (await db.selectFrom("device_certificates").selectAll().where("environment_id", "=", environmentId).orderBy("issued_at", "desc").orderBy("not_after", "desc").execute()).map(decode),
    );
  }

  expiringWithoutRenewal(after: Date, before: Date): Promise<DeviceCertificate[]> {
    return this.#database.run(async (db) => {
      const rows = await db
        .selectFrom("device_certificates as c")
        .innerJoin("environments as e", "e.id", "c.environment_id")
        .selectAll("c")
        .where("c.revoked_at", "is", null)
        .where("c.not_after", ">", after.getTime())
        .where("c.not_after", "<=", before.getTime())
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom("device_certificates as n")
                .select("n.serial")
                .whereRef("n.environment_id", "=", "c.environment_id")
                .where("n.revoked_at", "is", null)
                .whereRef("n.not_after", ">", "c.not_after"),
            ),
          ),
        )
        .execute();
      return rows.map(decode);
    });
  }

  list(): Promise<DeviceCertificate[]> {
    return this.#database.run(async (db) => (await db.selectFrom("device_certificates").selectAll().orderBy("issued_at", "desc").orderBy("not_after", "desc").execute()).map(decode));
  }

  inventory(query: InventoryQuery): Promise<InventoryPage> {
    return this.#database.run((db) => inventoryPage(db, query));
  }

  recordedSerials(serials: readonly string[]): Promise<Set<string>> {
    return this.#database.run((db) => recordedSerials(db, serials));
  }

  revoke(serials: readonly string[], revocation: CertificateRevocation): Promise<DeviceCertificate[]> {
    return this.#database.run((db) =>
      db.transaction().execute(async (trx) => {
        const changed: DeviceCertificate[] = [];
        for (const serial of new Set(serials)) {
          const row = await trx
            .updateTable("device_certificates")
            .set({ revoked_at: revocation.at.getTime(), revocation_reason: revocation.reason })
            .where("serial", "=", serial)
            .where("revoked_at", "is", null)
            .returningAll()
            .executeTakeFirst();
          if (row !== undefined) changed.push(decode(row));
        }
        return changed;
      }),
    );
  }

  revokeForEnvironment(environmentId: number, revocation: CertificateRevocation): Promise<DeviceCertificate[]> {
    const at = revocation.at.getTime();
    return this.#database.run(async (db) => {
      const rows = await db
        .updateTable("device_certificates")
        .set({ revoked_at: at, revocation_reason: revocation.reason })
        .where("environment_id", "=", environmentId)
        .where("revoked_at", "is", null)
        .where("not_after", ">", at)
        .returningAll()
        .execute();
      // RETURNING has no ORDER BY: the order of the rows changed is the engine's.
      return rows.map(decode).sort((a, b) => b.issuedAt.getTime() - a.issuedAt.getTime() || b.notAfter.getTime() - a.notAfter.getTime());
    });
  }

  revokedUnexpired(now: Date): Promise<DeviceCertificate[]> {
    return this.#database.run(async (db) =>
      (await db.selectFrom("device_certificates").selectAll().where("revoked_at", "is not", null).where("not_after", ">", now.getTime()).orderBy("revoked_at").execute()).map(decode),
    );
  }
}
