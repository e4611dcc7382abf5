import { Table } from "@mantine/core";

/**
 * A table's header row: one cell a column name.
 *
 * @example
 * <Table aria-label="Edge stacks"><TableHead columns={["Name", "Version"]} /><Table.Tbody>…</Table.Tbody></Table>
 */
export function TableHead({ columns }: { columns: readonly string[] }) {
  return (
    <Table.Thead>
      <Table.Tr>
        {columns.map((column) => (
          <Table.Th key={column}>{column}</Table.Th>
        ))}
      </Table.Tr>
    </Table.Thead>
  );
}
