import type { ServerError } from "../errors.ts";
import type { Row } from "./row-readers.ts";

export type { Row } from "./row-readers.ts";

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
