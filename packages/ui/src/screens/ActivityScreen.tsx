import { Anchor, Badge, Button, Code, Group, NativeSelect, Pagination, Paper, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconDownload } from "@tabler/icons-react";
import { useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { Link } from "react-router";
import { type ActivityEntry, type ActivityFilters, activityPageSize, downloadActivity, loadActivityKinds, loadActivityPage, maxActivityFilterLength } from "../api/activity.ts";
import { messageOf } from "../api/client.ts";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { paginationControlProps } from "../components/pagination-labels.ts";
import { formatDateTime, formatNumber } from "../format.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { usePolling } from "../hooks/use-polling.ts";

const noFilters: ActivityFilters = { edgeId: "", actor: "", kind: "", from: "", to: "" };

/** An entry's detail as `key: value` lines (nested values as JSON). */
function DetailLines({ detail }: { detail: Record<string, unknown> }) {
  const entries = Object.entries(detail);
  if (entries.length === 0) return <Text size="xs" c="dimmed">—</Text>;
  return (
    <Stack gap={0} data-untranslated>
      {entries.map(([key, value]) => (
        <Text key={key} size="xs" style={{ wordBreak: "break-word" }}>
          <Text span size="xs" c="dimmed">
            {key}:
          </Text>{" "}
          {typeof value === "string" ? value : JSON.stringify(value)}
        </Text>
      ))}
    </Stack>
  );
}

// What the server recorded (kinds, devices, users, addresses, details) is shown as recorded, marked
// `data-untranslated` for the language check of the browser tests.
function EntryRow({ entry }: { entry: ActivityEntry }) {
  const { t } = useTranslation("activity");
  return (
    <Table.Tr>
      <Table.Td style={{ whiteSpace: "nowrap" }}>
        <Text size="sm">{formatDateTime(entry.At)}</Text>
        <Tooltip label={t("hash", { id: entry.Id, hash: entry.Hash })} multiline maw={420}>
          <Code fz="xs">#{entry.Id}</Code>
        </Tooltip>
      </Table.Td>
      <Table.Td>
        <Badge variant="light" styles={{ label: { textTransform: "none" } }} data-untranslated>
          {entry.Kind}
        </Badge>
      </Table.Td>
      <Table.Td>
        {entry.EnvironmentId !== null ? (
          <Anchor component={Link} to={`/environments/${entry.EnvironmentId}`} size="sm" data-untranslated={entry.EdgeID !== null ? true : undefined}>
            {entry.EdgeID ?? t("environment", { id: entry.EnvironmentId })}
          </Anchor>
        ) : (
          <Text size="sm" data-untranslated>
            {entry.EdgeID ?? "—"}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Text size="sm" data-untranslated>
          {entry.Actor ?? "—"}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="sm" data-untranslated>
          {entry.SourceAddress ?? "—"}
        </Text>
      </Table.Td>
      <Table.Td>
        <DetailLines detail={entry.Detail} />
      </Table.Td>
    </Table.Tr>
  );
}

/**
 * `/activity`: the activity log (the audit trail), newest first, paged by the server and filtered
 * by device, user, kind and time; each export downloads every matching entry with its hashes,
 * which `pier audit verify --file` checks.
 */
export function ActivityScreen() {
  const { t } = useTranslation("activity");
  usePageTitle(t("title"));
  const [filters, setFilters] = useState<ActivityFilters>(noFilters);
  const [page, setPage] = useState(1);
  const [exporting, setExporting] = useState<"jsonl" | "csv">();
  const [debounced] = useDebouncedValue(filters, 300);
  const kinds = usePolling(loadActivityKinds, 0);
  const entries = usePolling((signal) => loadActivityPage(debounced, page, signal), 0, JSON.stringify([debounced, page]), { keepDataOnKeyChange: true });
  const pages = Math.max(1, Math.ceil((entries.data?.total ?? 0) / activityPageSize));
  const filtered = Object.values(filters).some((value) => value !== "");

  function set(field: keyof ActivityFilters, value: string) {
    setFilters((current) => ({ ...current, [field]: value }));
    setPage(1);
  }

  async function exportAs(format: "jsonl" | "csv") {
    setExporting(format);
    try {
      await downloadActivity(filters, format);
    } catch (failure) {
      notifications.show({ color: "red", title: t("exportFailed"), message: messageOf(failure) });
    } finally {
      setExporting(undefined);
    }
  }

  return (
    <>
      <PageHeader
        title={t("title")}
        description={<Trans t={t} i18nKey="description" components={{ code: <Code /> }} />}
        actions={
          <>
            <Button variant="light" leftSection={<IconDownload size={16} />} loading={exporting === "jsonl"} disabled={exporting !== undefined} onClick={() => void exportAs("jsonl")}>
              {t("exportJsonLines")}
            </Button>
            <Button variant="light" leftSection={<IconDownload size={16} />} loading={exporting === "csv"} disabled={exporting !== undefined} onClick={() => void exportAs("csv")}>
              {t("exportCsv")}
            </Button>
          </>
        }
      />
      <Group align="flex-end" mb="md" gap="sm">
        <TextInput label={t("filters.device")} placeholder={t("filters.anyDevice")} value={filters.edgeId} maxLength={maxActivityFilterLength} onChange={(event) => set("edgeId", event.currentTarget.value)} w={200} />
        <TextInput label={t("filters.user")} placeholder={t("filters.anyUser")} value={filters.actor} maxLength={maxActivityFilterLength} onChange={(event) => set("actor", event.currentTarget.value)} w={160} />
        <NativeSelect label={t("filters.kind")} data={[{ value: "", label: t("filters.anyKind") }, ...(kinds.data ?? []).map((kind) => ({ value: kind, label: kind }))]} value={filters.kind} onChange={(event) => set("kind", event.currentTarget.value)} w={220} data-untranslated />
        <TextInput label={t("filters.from")} type="datetime-local" value={filters.from} onChange={(event) => set("from", event.currentTarget.value)} w={200} />
        <TextInput label={t("filters.to")} type="datetime-local" value={filters.to} onChange={(event) => set("to", event.currentTarget.value)} w={200} />
        {filtered && (
          <Button variant="subtle" onClick={() => {
              setFilters(noFilters);
              setPage(1);
            }}>
            {t("filters.clear")}
          </Button>
        )}
      </Group>
      <LoadError message={entries.error ?? kinds.error} />
      <Paper withBorder radius="md">
        <Table verticalSpacing="xs" striped aria-label={t("title")}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={180}>{t("columns.time")}</Table.Th>
              <Table.Th>{t("columns.kind")}</Table.Th>
              <Table.Th>{t("columns.device")}</Table.Th>
              <Table.Th>{t("columns.user")}</Table.Th>
              <Table.Th>{t("columns.source")}</Table.Th>
              <Table.Th>{t("columns.detail")}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(entries.data?.items ?? []).map((entry) => (
              <EntryRow key={entry.Id} entry={entry} />
            ))}
            {entries.data && entries.data.items.length === 0 && <EmptyTableRow columns={6}>{filtered ? t("emptyFiltered") : t("empty")}</EmptyTableRow>}
          </Table.Tbody>
        </Table>
      </Paper>
      <Group justify="space-between" mt="sm">
        <Text size="sm" c="dimmed">
          {entries.data ? t("entries", { count: entries.data.total, total: formatNumber(entries.data.total) }) : ""}
        </Text>
        {pages > 1 && <Pagination total={pages} value={page} onChange={setPage} aria-label={t("pages")} getControlProps={paginationControlProps} />}
      </Group>
    </>
  );
}
