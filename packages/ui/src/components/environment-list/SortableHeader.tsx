import { Table, UnstyledButton } from "@mantine/core";
import { IconArrowDown, IconArrowUp, IconArrowsSort } from "@tabler/icons-react";
import type { ReactNode } from "react";
import type { EnvironmentSort } from "../../api/environment-list.ts";

/**
 * A column header that sorts the list by `sort` on the server; the column sorted by shows its
 * direction and says it to screen readers (`aria-sort`).
 */
export function SortableHeader({ sort, current, order, onSort, children }: { sort: EnvironmentSort; current: EnvironmentSort; order: "asc" | "desc"; onSort: (sort: EnvironmentSort) => void; children: ReactNode }) {
  const active = sort === current;
  const Icon = !active ? IconArrowsSort : order === "asc" ? IconArrowUp : IconArrowDown;
  return (
    <Table.Th aria-sort={active ? (order === "asc" ? "ascending" : "descending") : "none"}>
      <UnstyledButton onClick={() => onSort(sort)} style={{ display: "inline-flex", alignItems: "center", gap: 4, fontWeight: 700, fontSize: "inherit" }}>
        {children}
        <Icon size={14} opacity={active ? 1 : 0.4} aria-hidden />
      </UnstyledButton>
    </Table.Th>
  );
}
