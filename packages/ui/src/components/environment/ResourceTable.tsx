import { Paper, Table } from "@mantine/core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { LoadError } from "../LoadError.tsx";
import { EmptyTableRow } from "../EmptyTableRow.tsx";

/** A column: its header (translated) and how a row fills it. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  width?: number | string;
}

/**
 * A Docker resource list: a header row, one row per item, and a row saying so when empty (so a
 * table always has a body row to look at) or, after a failed load, that it is not known.
 */
export function ResourceTable<T>({ label, columns, rows, rowKey, empty, error, loading }: { label: string; columns: Column<T>[]; rows: T[] | undefined; rowKey: (row: T) => string; empty: string; error: string | undefined; loading: boolean }) {
  const { t } = useTranslation("docker");
  return (
    <>
      <LoadError message={error} />
      <Paper withBorder radius="md">
        <Table highlightOnHover verticalSpacing="xs" aria-label={label}>
          <Table.Thead>
            <Table.Tr>
              {columns.map((column) => (
                <Table.Th key={column.header} w={column.width}>
                  {column.header}
                </Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(rows ?? []).map((row) => (
              <Table.Tr key={rowKey(row)}>
                {columns.map((column) => (
                  <Table.Td key={column.header}>{column.cell(row)}</Table.Td>
                ))}
              </Table.Tr>
            ))}
            {(rows ?? []).length === 0 && (
              // Under a failed load the list is unknown, not empty: never "No container" below the error.
              <EmptyTableRow columns={columns.length}>{loading ? t("table.loading") : error ? t("table.notLoaded") : empty}</EmptyTableRow>
            )}
          </Table.Tbody>
        </Table>
      </Paper>
    </>
  );
}
