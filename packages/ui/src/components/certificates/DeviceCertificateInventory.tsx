import { Anchor, Badge, Button, Code, Group, NativeSelect, Pagination, Paper, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconBan, IconRefresh, IconSearch } from "@tabler/icons-react";
import type { TFunction } from "i18next";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, messageOf } from "../../api/client.ts";
import type { DeviceCertificateItem, DeviceCertificatePage, DeviceCertificateStatus } from "../../api/types.ts";
import { formatDateTime, formatNumber } from "../../format.ts";
import type { Polled } from "../../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { EmptyTableRow } from "../EmptyTableRow.tsx";
import { LoadError } from "../LoadError.tsx";
import { paginationControlProps } from "../pagination-labels.ts";
import { formatTimeLeft } from "./expiry-buckets.ts";

/** Rows per page of the inventory. */
export const inventoryPageSize = 50;

const statusColors: Record<DeviceCertificateStatus, string> = { active: "green", expiring: "orange", expired: "red", revoked: "gray", superseded: "blue", shared: "grape" };

const statuses = ["active", "expiring", "expired", "revoked", "superseded", "shared"] as const satisfies readonly DeviceCertificateStatus[];

// The status filter's options, in the UI's language (the values are the server's).
function statusOptions(t: TFunction<"pki">): { value: string; label: string }[] {
  return [{ value: "", label: t("inventory.anyStatus") }, ...statuses.map((status) => ({ value: status, label: t(`statuses.${status}`) }))];
}

/** What the inventory shows: the filters the screen holds and the page the server answered. */
export interface InventoryFilters {
  search: string;
  status: DeviceCertificateStatus | "";
  page: number;
}

/** The query string of `GET /api/pki/device-certificates` for these filters. */
export function inventoryPath({ search, status, page }: InventoryFilters): string {
  const query = new URLSearchParams({ start: String((page - 1) * inventoryPageSize), limit: String(inventoryPageSize) });
  if (search.trim() !== "") query.set("search", search.trim().slice(0, 128));
  if (status !== "") query.set("status", status);
  return `/api/pki/device-certificates?${query.toString()}`;
}

/** The filters, debounced so typing does not send a request per key. */
export function useInventoryFilters(): { filters: InventoryFilters; query: InventoryFilters; setSearch: (value: string) => void; setStatus: (value: InventoryFilters["status"]) => void; setPage: (value: number) => void } {
  const [search, setSearchText] = useState("");
  const [status, setStatusValue] = useState<InventoryFilters["status"]>("");
  const [page, setPage] = useState(1);
  const [debounced] = useDebouncedValue(search, 300);
  return {
    filters: { search, status, page },
    query: { search: debounced, status, page },
    setSearch: (value) => {
      setSearchText(value);
      setPage(1);
    },
    setStatus: (value) => {
      setStatusValue(value);
      setPage(1);
    },
    setPage,
  };
}

function StatusBadge({ item }: { item: DeviceCertificateItem }) {
  const { t } = useTranslation("pki");
  return (
    <Badge color={statusColors[item.Status]} variant="light" styles={{ label: { textTransform: "none" } }}>
      {item.Status === "shared" ? t("statuses.sharedBy", { count: item.SharedBy }) : t(`statuses.${item.Status}`)}
    </Badge>
  );
}

function canAct(item: DeviceCertificateItem): boolean {
  return item.Source === "built-in" && item.EnvironmentName !== "" && item.Status !== "revoked" && item.Status !== "superseded";
}

/**
 * Every device certificate, searched and filtered by status, with Revoke (confirmed) and Renew
 * for the devices holding one from the built-in CA.
 */
export function DeviceCertificateInventory({ inventory, filters, onSearch, onStatus, onPage }: { inventory: Polled<DeviceCertificatePage>; filters: InventoryFilters; onSearch: (value: string) => void; onStatus: (value: InventoryFilters["status"]) => void; onPage: (value: number) => void }) {
  const { t } = useTranslation("pki");
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [busy, setBusy] = useState<string>();
  const data = inventory.data;
  const pages = Math.max(1, Math.ceil((data?.Total ?? 0) / inventoryPageSize));

  async function act(item: DeviceCertificateItem, what: "revoke" | "renew") {
    setBusy(`${what}:${item.Serial}`);
    try {
      await api("POST", `/api/endpoints/${item.EnvironmentId}/certificate/${what}`, what === "revoke" ? { body: {} } : {});
      notifications.show({ color: "green", message: what === "revoke" ? t("device.revoked", { name: item.EnvironmentName }) : t("device.toldToRenew", { name: item.EnvironmentName }) });
      await inventory.refresh();
    } catch (failure) {
      notifications.show({ color: "red", title: what === "revoke" ? t("inventory.couldNotRevoke", { name: item.EnvironmentName }) : t("inventory.couldNotRenew", { name: item.EnvironmentName }), message: messageOf(failure), autoClose: false });
    } finally {
      setBusy(undefined);
    }
  }

  function askRevoke(item: DeviceCertificateItem) {
    setConfirm({
      title: t("device.revokeTitle", { name: item.EnvironmentName }),
      message: t("inventory.revokeMessage", { edgeId: item.EdgeID }),
      confirmLabel: t("device.revoke"),
      onConfirm: () => act(item, "revoke"),
    });
  }

  return (
    <Paper withBorder radius="md" p="lg">
      <Group justify="space-between" align="flex-end" mb="sm">
        <div>
          <Title order={2} size="h3">{t("inventory.title")}</Title>
          <Text size="sm" c="dimmed">
            {data ? t("inventory.descriptionShown", { total: formatNumber(data.Total) }) : t("inventory.description")}
          </Text>
        </div>
        <Group gap="xs">
          <TextInput aria-label={t("inventory.search")} placeholder={t("inventory.searchPlaceholder")} leftSection={<IconSearch size={14} />} value={filters.search} maxLength={128} onChange={(event) => onSearch(event.currentTarget.value)} w={280} />
          <NativeSelect aria-label={t("inventory.status")} data={statusOptions(t)} value={filters.status} onChange={(event) => onStatus(event.currentTarget.value as InventoryFilters["status"])} w={150} />
        </Group>
      </Group>
      <LoadError message={inventory.error} />
      <Table verticalSpacing="xs" highlightOnHover aria-label={t("inventory.title")}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("inventory.columns.subject")}</Table.Th>
            <Table.Th>{t("inventory.columns.serial")}</Table.Th>
            <Table.Th>{t("inventory.columns.issuer")}</Table.Th>
            <Table.Th>{t("inventory.columns.notAfter")}</Table.Th>
            <Table.Th>{t("inventory.columns.status")}</Table.Th>
            <Table.Th w={190}>{t("inventory.columns.actions")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(data?.Items ?? []).map((item) => (
            <Table.Tr key={`${item.Source}:${item.Serial}`}>
              <Table.Td>
                <Stack gap={0}>
                  <Text size="sm" fw={500} style={{ wordBreak: "break-word" }} data-untranslated>
                    {item.Subject}
                  </Text>
                  {item.EnvironmentName ? (
                    <Anchor component={Link} to={`/environments/${item.EnvironmentId}`} size="xs">
                      {item.SharedBy > 1 ? t("inventory.andMore", { name: item.EnvironmentName, more: formatNumber(item.SharedBy - 1) }) : item.EnvironmentName}
                    </Anchor>
                  ) : (
                    <Text size="xs" c="dimmed">
                      {t("inventory.environmentRemoved")}
                    </Text>
                  )}
                </Stack>
              </Table.Td>
              <Table.Td>
                <Tooltip label={item.Source === "built-in" ? t("inventory.serialIssued", { serial: item.Serial, date: formatDateTime(item.IssuedAt), reason: item.Reason }) : t("inventory.serialOperator", { serial: item.Serial })} multiline maw={360}>
                  <Code>{item.Serial.length > 12 ? `${item.Serial.slice(0, 12)}…` : item.Serial}</Code>
                </Tooltip>
              </Table.Td>
              <Table.Td>
                <Text size="sm" c="dimmed" style={{ wordBreak: "break-word" }} data-untranslated>
                  {item.Issuer}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{formatDateTime(item.NotAfter)}</Text>
                <Text size="xs" c="dimmed">
                  {formatTimeLeft(item.NotAfter)}
                </Text>
              </Table.Td>
              <Table.Td>
                <StatusBadge item={item} />
              </Table.Td>
              <Table.Td>
                {canAct(item) && (
                  <Group gap={4} wrap="nowrap">
                    <Button size="compact-xs" variant="light" leftSection={<IconRefresh size={12} />} loading={busy === `renew:${item.Serial}`} disabled={busy !== undefined} onClick={() => void act(item, "renew")} aria-label={t("inventory.renewNamed", { name: item.EnvironmentName })}>
                      {t("device.renew")}
                    </Button>
                    <Button size="compact-xs" variant="light" color="red" leftSection={<IconBan size={12} />} disabled={busy !== undefined} onClick={() => askRevoke(item)} aria-label={t("inventory.revokeNamed", { name: item.EnvironmentName })}>
                      {t("device.revoke")}
                    </Button>
                  </Group>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
          {data && data.Items.length === 0 && <EmptyTableRow columns={6}>{filters.search || filters.status ? t("inventory.emptyFiltered") : t("inventory.empty")}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
      {pages > 1 && <Pagination mt="sm" total={pages} value={filters.page} onChange={onPage} aria-label={t("inventory.pages")} getControlProps={paginationControlProps} />}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
