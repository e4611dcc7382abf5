import { sql } from "kysely";
import { ServerError } from "../errors.ts";
import { type Row, columnReaders } from "./row-readers.ts";
import type { SqlDatabase } from "./database.ts";

/**
 * Where the built-in CA's rotation stands (docs/identity.md "CA rotation"). `finishing` is the
 * short step during which the CA directories are renamed; a restart completes it.
 */
export type RotationPhase = "standby" | "rotating" | "rolling_back" | "finishing";

/** The row of `pki_rotation`. CAs are named by their SPKI SHA-256 (hex). */
export interface RotationRecord {
  phase: RotationPhase;
  /** The CA devices move away from (in `standby`: the CA in force). */
  fromCa: string;
  /** The CA devices move to (in `standby`: the CA in force). */
  toCa: string;
  startedAt: Date;
  updatedAt: Date;
  /** Seconds over which the fleet's renewals are spread. */
  windowSeconds: number;
}

/**
 * A device a rotation counts: an environment whose newest unrevoked certificate comes from
 * one of the rotation's CAs.
 */
export interface RotationDevice {
  environmentId: number;
  name: string;
  edgeId: string;
  /** Serial of that newest certificate. */
  serial: string;
  /** SPKI SHA-256 of the CA that issued it. */
  caSpkiSha256: string;
  lastCheckInAt: Date | null;
  /** Serial of the certificate the device presented at its last hello (`null`: none). */
  presentedSerial: string | null;
}

/** The rotation's row and the progress query over `device_certificates`. */
export interface PkiRotationStore {
  /** The rotation row, or `null` when no rotation ever started. */
  get(): Promise<RotationRecord | null>;
  /** Writes the row (there is only one). */
  put(record: RotationRecord): Promise<void>;
  /** Devices whose newest unrevoked certificate was issued by one of `caSpkis`, by environment id. */
  devices(caSpkis: readonly string[]): Promise<RotationDevice[]>;
  /** The newest unrevoked certificate of one environment (serial and issuing CA), or `null`. */
  newestCertificate(environmentId: number): Promise<{ serial: string; caSpkiSha256: string } | null>;
  /**
   * The next CRL number of the CA `caSpkiSha256` (hex): one more than the last one allocated, and
   * more than `floor` (a number signed before the store kept them, `DATA/crl-numbers.json`). One
   * atomic upsert, so stores sharing a database never get the same number for one CA.
   */
  nextCrlNumber(caSpkiSha256: string, floor?: number): Promise<number>;
}

const phases: readonly string[] = ["standby", "rotating", "rolling_back", "finishing"] satisfies RotationPhase[];

function corrupt(column: string): ServerError {
  return new ServerError("store_failed", `The database holds an unreadable CA rotation (column ${column}); restore a backup.`);
}

const { textOf, integerOf } = columnReaders(corrupt);

// The newest unrevoked certificate of environment `e`: the device certificate store's "newest first".
const newestUnrevokedSerial = `
  SELECT d.serial FROM device_certificates d
  WHERE d.environment_id = e.id AND d.revoked_at IS NULL
  ORDER BY d.issued_at DESC, d.not_after DESC LIMIT 1`;

/** The serial a device last presented, from `environments.client_certificate` (JSON); `null` when none or unreadable. */
function presentedSerialOf(clientCertificate: unknown): string | null {
  if (typeof clientCertificate !== "string") return null;
  try {
    const serial = (JSON.parse(clientCertificate) as { serialNumber?: unknown } | null)?.serialNumber;
    return typeof serial === "string" ? serial : null;
  } catch {
    return null;
  }
}

/**
 * `PkiRotationStore` on the store's database, the same queries for SQLite and PostgreSQL; every
 * query goes through `database.run`, so failures read like every other store failure.
 *
 * @example
 * const rotation = new SqlPkiRotation(await openDatabase({ path: "pier.db" }));
 * const record = await rotation.get();
 */
export class SqlPkiRotation implements PkiRotationStore {
  readonly #database: SqlDatabase;

  constructor(database: SqlDatabase) {
    this.#database = database;
  }

  get(): Promise<RotationRecord | null> {
    return this.#database.run(async (db) => {
      const row = (await db.selectFrom("pki_rotation").selectAll().where("id", "=", 1).executeTakeFirst()) as Row | undefined;
      if (row === undefined) return null;
      const phase = textOf(row, "phase");
      if (!phases.includes(phase)) throw corrupt("phase");
      return {
        phase: phase as RotationPhase,
        fromCa: textOf(row, "from_ca"),
        toCa: textOf(row, "to_ca"),
        startedAt: new Date(integerOf(row, "started_at")),
        updatedAt: new Date(integerOf(row, "updated_at")),
        windowSeconds: integerOf(row, "window_seconds"),
      };
    });
  }

  put(record: RotationRecord): Promise<void> {
    const row = { phase: record.phase, from_ca: record.fromCa, to_ca: record.toCa, started_at: record.startedAt.getTime(), updated_at: record.updatedAt.getTime(), window_seconds: record.windowSeconds };
    return this.#database.run(async (db) => {
      await db
        .insertInto("pki_rotation")
        .values({ id: 1, ...row })
        .onConflict((conflict) => conflict.column("id").doUpdateSet(row))
        .execute();
    });
  }

  devices(caSpkis: readonly string[]): Promise<RotationDevice[]> {
    return this.#database.run(async (db) => {
      if (caSpkis.length === 0) return [];
      const newest = sql<string>`(${sql.raw(newestUnrevokedSerial)})`;
      const rows = (await db
        .selectFrom("environments as e")
        .innerJoin("device_certificates as c", (join) => join.on("c.serial", "=", newest))
        .select(["e.id", "e.name", "e.edge_id", "e.last_check_in_at", "e.client_certificate", "c.serial", "c.ca_spki_sha256"])
        .where("c.ca_spki_sha256", "in", [...new Set(caSpkis)])
        .orderBy("e.id")
        .execute()) as Row[];
      return rows.map((row) => ({
        environmentId: integerOf(row, "id"),
        name: textOf(row, "name"),
        edgeId: typeof row["edge_id"] === "string" ? row["edge_id"] : "",
        serial: textOf(row, "serial"),
        caSpkiSha256: textOf(row, "ca_spki_sha256"),
        lastCheckInAt: row["last_check_in_at"] === null ? null : new Date(integerOf(row, "last_check_in_at")),
        presentedSerial: presentedSerialOf(row["client_certificate"]),
      }));
    });
  }

  newestCertificate(environmentId: number): Promise<{ serial: string; caSpkiSha256: string } | null> {
    return this.#database.run(async (db) => {
      const row = await db
        .selectFrom("device_certificates")
        .select(["serial", "ca_spki_sha256"])
        .where("environment_id", "=", environmentId)
        .where("revoked_at", "is", null)
        .orderBy("issued_at", "desc")
        .orderBy("not_after", "desc")
        .limit(1)
        .executeTakeFirst();
      return row === undefined ? null : { serial: textOf(row, "serial"), caSpkiSha256: textOf(row, "ca_spki_sha256") };
    });
  }

  nextCrlNumber(caSpkiSha256: string, floor = 0): Promise<number> {
    if (!/^[0-9a-f]{64}$/.test(caSpkiSha256)) return Promise.reject(new ServerError("bad_request", "A CA is named by its SPKI SHA-256: 64 lowercase hex digits.", { field: "caSpkiSha256" }));
    if (!Number.isSafeInteger(floor) || floor < 0) return Promise.reject(new ServerError("bad_request", "The lowest CRL number must be a non-negative integer.", { field: "floor" }));
    return this.#database.run(async (db) => {
      // INSERT … ON CONFLICT DO UPDATE … RETURNING holds the row's lock (PostgreSQL) or the write
      // lock (SQLite) from read to write: two replicas signing at once get consecutive numbers.
      const row = await db
        .insertInto("crl_numbers")
        .values({ ca_spki_sha256: caSpkiSha256, last_number: floor + 1 })
        .onConflict((conflict) =>
          conflict.column("ca_spki_sha256").doUpdateSet({
            last_number: sql<number>`CASE WHEN crl_numbers.last_number + 1 > excluded.last_number THEN crl_numbers.last_number + 1 ELSE excluded.last_number END`,
          }),
        )
        .returning("last_number")
        .executeTakeFirstOrThrow();
      return integerOf(row, "last_number");
    });
  }
}
