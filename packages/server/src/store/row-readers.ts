import { ServerError } from "../errors.ts";
import { corrupt } from "./store-errors.ts";

/**
 * One row as either engine returns it. The readers below check what the schema promises, since
 * a row read back is data from disk: a wrong type is a corrupt record, reported as `store_failed`.
 */
export type Row = Readonly<Record<string, unknown>>;

/** Typed reads of a row's columns; a value of another type throws the table's `corrupt` error. */
export interface ColumnReaders {
  readonly textOf: (row: Row, column: string) => string;
  /** A safe integer (ids, milliseconds, 0/1 flags). */
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
export function columnReaders(corruptColumn: (column: string) => ServerError): ColumnReaders {
  return {
    textOf: (row, column) => {
      const value = row[column];
      if (typeof value !== "string") throw corruptColumn(column);
      return value;
    },
    integerOf: (row, column) => {
      const value = row[column];
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw corruptColumn(column);
      return value;
    },
  };
}

/** The readers of tables without a message of their own: "unreadable value (column …)". */
const { integerOf, textOf } = columnReaders((column) => corrupt(`column ${column}`));

/** A safe integer (ids, milliseconds, 0/1 flags). */
export const integer = integerOf;

export function integerOrNull(row: Row, column: string): number | null {
  return row[column] === null ? null : integer(row, column);
}

export const text = textOf;

export function textOrNull(row: Row, column: string): string | null {
  return row[column] === null ? null : text(row, column);
}

export function dateOrNull(row: Row, column: string): Date | null {
  const value = integerOrNull(row, column);
  return value === null ? null : new Date(value);
}

/** SQLite returns a BLOB as `Uint8Array`, PostgreSQL a BYTEA as `Buffer`: both become a `Buffer`. */
export function bytesOrNull(row: Row, column: string): Buffer | null {
  const value = row[column];
  if (value === null) return null;
  if (!(value instanceof Uint8Array)) throw corrupt(`column ${column}`);
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}

/** A JSON text column, parsed; `null` stays `null`. */
export function json(row: Row, column: string): unknown {
  const value = textOrNull(row, column);
  if (value === null) return null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw corrupt(`column ${column}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A `Date` given to the store, as milliseconds; `bad_request` naming `field` when invalid. */
export function millis(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(value)) throw new ServerError("bad_request", `${field} must be a valid Date.`, { field });
  return value;
}

export function millisOrNull(date: Date | null, field: string): number | null {
  return date === null ? null : millis(date, field);
}

/** The entries of a patch whose value is not `undefined` (left-out keys keep their value). */
export function definedEntries<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}
