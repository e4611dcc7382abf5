import type { DatabaseSync, SQLOutputValue, StatementSync } from "node:sqlite";
import type { ServerError } from "../errors.ts";

/** One row as `node:sqlite` returns it. */
export type Row = Record<string, SQLOutputValue>;

/** Typed reads of a row's columns; a value of another type throws the table's `corrupt` error. */
export interface ColumnReaders {
  readonly textOf: (row: Row, column: string) => string;
  /** A safe integer (timestamps in ms, ids). */
  readonly integerOf: (row: Row, column: string) => number;
}

/**
 * Column readers for one table, whose unreadable values are reported by `corrupt` (a
 * `store_failed` error saying which record and what to do).
 *
 * @example
 * const { textOf, integerOf } = columnReaders((column) => new ServerError("store_failed", `… (column ${column}); restore a backup.`));
 * const serial = textOf(row, "serial");
 */
export function columnReaders(corrupt: (column: string) => ServerError): ColumnReaders {
  return {
    textOf: (row, column) => {
      const value = row[column];
      if (typeof value !== "string") throw corrupt(column);
      return value;
    },
    integerOf: (row, column) => {
      const value = row[column];
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw corrupt(column);
      return value;
    },
  };
}

/**
 * The prepared statements of one connection, each SQL text prepared once.
 *
 * @example
 * const statements = new StatementCache(db);
 * statements.prepare("SELECT * FROM pki_rotation WHERE id = 1").get();
 * statements.clear(); // the store is closing
 */
export class StatementCache {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Forgets the statements (the store is closing). */
  clear(): void {
    this.#statements.clear();
  }
}
