import { Button, Group, Paper, Text } from "@mantine/core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";

/** What the bar says and offers about a list's selection. */
export interface SelectionBarProps {
  selected: number;
  /** How many rows match the list's filters, on every page. */
  matching: number;
  /** Shown when every row of the page is selected and more rows match: selects them all. */
  onSelectAllMatching?: () => void;
  selectingAll?: boolean;
  onClear: () => void;
  /** The actions on the selection. */
  children: ReactNode;
}

/**
 * The sticky bar under a list while rows are selected: how many, "Select all N matching" across
 * pages, Clear, and the actions. It stays in view while the page scrolls, so the count is always
 * next to the buttons that act on it.
 */
export function SelectionBar({ selected, matching, onSelectAllMatching, selectingAll, onClear, children }: SelectionBarProps) {
  const { t } = useTranslation("environments");
  if (selected === 0) return null;
  return (
    <Paper withBorder shadow="md" radius="md" p="sm" mt="md" pos="sticky" bottom={8} style={{ zIndex: 5 }} role="region" aria-label={t("lists.selection.label")}>
      <Group justify="space-between">
        <Group gap="sm">
          <Text fw={500} data-testid="selection-count">
            {t("lists.selection.selected", { count: selected })}
          </Text>
          {onSelectAllMatching && selected < matching && (
            <Button variant="subtle" size="compact-sm" onClick={onSelectAllMatching} loading={selectingAll}>
              {t("lists.selection.selectAllMatching", { count: matching })}
            </Button>
          )}
          <Button variant="subtle" color="gray" size="compact-sm" onClick={onClear}>
            {t("lists.selection.clear")}
          </Button>
        </Group>
        <Group gap="sm">{children}</Group>
      </Group>
    </Paper>
  );
}
