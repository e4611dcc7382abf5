import type { DatabaseSync } from "node:sqlite";
import { ServerError } from "../errors.ts";
import { StatementCache, columnReaders } from "./sqlite-columns.ts";

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

/**
 * `PkiRotationStore` on the SQLite store's database; `SqliteStore` passes its connection and
 * error wrapper (`call`), so failures read like every other store failure.
 */
export class SqlitePkiRotation implements PkiRotationStore {
  readonly #call: <T>(work: () => T) => Promise<T>;
  readonly #statements: StatementCache;

  constructor(db: DatabaseSync, call: <T>(work: () => T) => Promise<T>) {
    this.#call = call;
    this.#statements = new StatementCache(db);
  }

  get(): Promise<RotationRecord | null> {
    return this.#call(() => {
      const row = this.#statements.prepare("SELECT * FROM pki_rotation WHERE id = 1").get();
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
    return this.#call(() => {
      this.#statements.prepare(
        `INSERT INTO pki_rotation (id, phase, from_ca, to_ca, started_at, updated_at, window_seconds) VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET phase = excluded.phase, from_ca = excluded.from_ca, to_ca = excluded.to_ca,
           started_at = excluded.started_at, updated_at = excluded.updated_at, window_seconds = excluded.window_seconds`,
      ).run(record.phase, record.fromCa, record.toCa, record.startedAt.getTime(), record.updatedAt.getTime(), record.windowSeconds);
    });
  }

  devices(caSpkis: readonly string[]): Promise<RotationDevice[]> {
    return this.#call(() => {
      if (caSpkis.length === 0) return [];
      const rows = this.#statements.prepare(
        `SELECT e.id, e.name, e.edge_id, e.last_check_in_at, c.serial, c.ca_spki_sha256, json_extract(e.client_certificate, '$.serialNumber') AS presented_serial
         FROM environments e JOIN device_certificates c ON c.serial = (${newestUnrevokedSerial})
         WHERE c.ca_spki_sha256 IN (SELECT value FROM json_each(?)) ORDER BY e.id`,
      ).all(JSON.stringify(caSpkis));
      return rows.map((row) => ({
        environmentId: integerOf(row, "id"),
        name: textOf(row, "name"),
        edgeId: typeof row["edge_id"] === "string" ? row["edge_id"] : "",
        serial: textOf(row, "serial"),
        caSpkiSha256: textOf(row, "ca_spki_sha256"),
        lastCheckInAt: row["last_check_in_at"] === null ? null : new Date(integerOf(row, "last_check_in_at")),
        presentedSerial: typeof row["presented_serial"] === "string" ? row["presented_serial"] : null,
      }));
    });
  }

  newestCertificate(environmentId: number): Promise<{ serial: string; caSpkiSha256: string } | null> {
    return this.#call(() => {
      const row = this.#statements.prepare(
        "SELECT serial, ca_spki_sha256 FROM device_certificates WHERE environment_id = ? AND revoked_at IS NULL ORDER BY issued_at DESC, not_after DESC LIMIT 1",
      ).get(environmentId);
      return row === undefined ? null : { serial: textOf(row, "serial"), caSpkiSha256: textOf(row, "ca_spki_sha256") };
    });
  }

  /** Forgets prepared statements (the store is closing). */
  clear(): void {
    this.#statements.clear();
  }
}
