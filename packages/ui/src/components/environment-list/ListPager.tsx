import { Button, Group, NativeSelect, Text } from "@mantine/core";
import { IconChevronLeft, IconChevronRight } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { type PageSize, pageSizes } from "../../api/environment-list.ts";

function isPageSize(value: number): value is PageSize {
  return (pageSizes as readonly number[]).includes(value);
}

/**
 * Under a server-paged list: how many match (`totalText`, "N environments", from `X-Total-Count`),
 * which rows are shown, the page size (10, 25, 50, 100) and previous / next.
 */
export function ListPager({ total, totalText, page, pageSize, shown, onPage, onPageSize }: { total: number; totalText: string; page: number; pageSize: PageSize; shown: number; onPage: (page: number) => void; onPageSize: (size: PageSize) => void }) {
  const { t } = useTranslation("environments");
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = total === 0 ? 0 : first + shown - 1;
  return (
    <Group justify="space-between" p="sm" wrap="wrap">
      <Text size="sm" aria-live="polite" data-testid="list-total">
        {totalText}
        {total > 0 && (
          <Text span c="dimmed" size="sm">
            {" "}
            {t("lists.showing", { first, last })}
          </Text>
        )}
      </Text>
      <Group gap="xs">
        <NativeSelect
          aria-label={t("lists.rowsPerPage")}
          size="xs"
          data={pageSizes.map((size) => ({ value: String(size), label: t("lists.perPage", { size }) }))}
          value={String(pageSize)}
          onChange={(event) => {
            const size = Number(event.currentTarget.value);
            if (isPageSize(size)) onPageSize(size);
          }}
        />
        <Button size="xs" variant="default" leftSection={<IconChevronLeft size={14} />} disabled={page <= 1} onClick={() => onPage(page - 1)}>
          {t("lists.previous")}
        </Button>
        <Text size="sm" c="dimmed">
          {t("lists.pageOf", { page: Math.min(page, pages), pages })}
        </Text>
        <Button size="xs" variant="default" rightSection={<IconChevronRight size={14} />} disabled={page >= pages} onClick={() => onPage(page + 1)}>
          {t("lists.next")}
        </Button>
      </Group>
    </Group>
  );
}
