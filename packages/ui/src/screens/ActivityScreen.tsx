import { Anchor, Badge, Button, Code, Group, NativeSelect, Pagination, Paper, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconDownload } from "@tabler/icons-react";
import { useState } from "react";
import { Link } from "react-router";
import { type ActivityEntry, type ActivityFilters, activityPageSize, downloadActivity, loadActivityKinds, loadActivityPage, maxActivityFilterLength } from "../api/activity.ts";
import { messageOf } from "../api/client.ts";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { paginationControlProps } from "../components/pagination-labels.ts";
import { formatDateTime } from "../format.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { usePolling } from "../hooks/use-polling.ts";

const noFilters: ActivityFilters = { edgeId: "", actor: "", kind: "", from: "", to: "" };

/** An entry's detail as `key: value` lines (nested values as JSON). */
function DetailLines({ detail }: { detail: Record<string, unknown> }) {
  const entries = Object.entries(detail);
  if (entries.length === 0) return <Text size="xs" c="dimmed">—</Text>;
  return (
    <Stack gap={0}>
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

function EntryRow({ entry }: { entry: ActivityEntry }) {
  return (
    <Table.Tr>
      <Table.Td style={{ whiteSpace: "nowrap" }}>
        <Text size="sm">{formatDateTime(entry.At)}</Text>
        <Tooltip label={`#${entry.Id} · hash ${entry.Hash}`} multiline maw={420}>
          <Code fz="xs">#{entry.Id}</Code>
        </Tooltip>
      </Table.Td>
      <Table.Td>
        <Badge variant="light" styles={{ label: { textTransform: "none" } }}>
          {entry.Kind}
        </Badge>
      </Table.Td>
      <Table.Td>
        {entry.EnvironmentId !== null ? (
          <Anchor component={Link} to={`/environments/${entry.EnvironmentId}`} size="sm">
            {entry.EdgeID ?? `Environment ${entry.EnvironmentId}`}
          </Anchor>
        ) : (
          <Text size="sm">{entry.EdgeID ?? "—"}</Text>
        )}
      </Table.Td>
      <Table.Td>
        <Text size="sm">{entry.Actor ?? "—"}</Text>
      </Table.Td>
      <Table.Td>
        <Text size="sm">{entry.SourceAddress ?? "—"}</Text>
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
  usePageTitle("Activity");
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
      notifications.show({ color: "red", title: "Could not export the activity log", message: messageOf(failure) });
    } finally {
      setExporting(undefined);
    }
  }

  return (
    <>
      <PageHeader
        title="Activity"
        description="Everything Pier recorded: devices enrolling and refused, and what each user did. Entries are hash-chained; check an export with pier audit verify --file."
        actions={
          <>
            <Button variant="light" leftSection={<IconDownload size={16} />} loading={exporting === "jsonl"} disabled={exporting !== undefined} onClick={() => void exportAs("jsonl")}>
              Export JSON lines
            </Button>
            <Button variant="light" leftSection={<IconDownload size={16} />} loading={exporting === "csv"} disabled={exporting !== undefined} onClick={() => void exportAs("csv")}>
              Export CSV
            </Button>
          </>
        }
      />
      <Group align="flex-end" mb="md" gap="sm">
        <TextInput label="Device (EDGE_ID)" placeholder="Any device" value={filters.edgeId} maxLength={maxActivityFilterLength} onChange={(event) => set("edgeId", event.currentTarget.value)} w={200} />
        <TextInput label="User" placeholder="Any user" value={filters.actor} maxLength={maxActivityFilterLength} onChange={(event) => set("actor", event.currentTarget.value)} w={160} />
        <NativeSelect label="Kind" data={[{ value: "", label: "Any kind" }, ...(kinds.data ?? []).map((kind) => ({ value: kind, label: kind }))]} value={filters.kind} onChange={(event) => set("kind", event.currentTarget.value)} w={220} />
        <TextInput label="From" type="datetime-local" value={filters.from} onChange={(event) => set("from", event.currentTarget.value)} w={200} />
        <TextInput label="To" type="datetime-local" value={filters.to} onChange={(event) => set("to", event.currentTarget.value)} w={200} />
        {filtered && (
          <Button variant="subtle" onClick={() => {
              setFilters(noFilters);
              setPage(1);
            }}>
            Clear filters
          </Button>
        )}
      </Group>
      <LoadError message={entries.error ?? kinds.error} />
      <Paper withBorder radius="md">
        <Table verticalSpacing="xs" striped aria-label="Activity">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={180}>Time</Table.Th>
              <Table.Th>Kind</Table.Th>
              <Table.Th>Device</Table.Th>
              <Table.Th>User</Table.Th>
              <Table.Th>Source</Table.Th>
              <Table.Th>Detail</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(entries.data?.items ?? []).map((entry) => (
              <EntryRow key={entry.Id} entry={entry} />
            ))}
            {entries.data && entries.data.items.length === 0 && <EmptyTableRow columns={6}>{filtered ? "No entry matches these filters." : "Nothing recorded yet."}</EmptyTableRow>}
          </Table.Tbody>
        </Table>
      </Paper>
      <Group justify="space-between" mt="sm">
        <Text size="sm" c="dimmed">
          {entries.data ? `${entries.data.total} ${entries.data.total === 1 ? "entry" : "entries"}` : ""}
        </Text>
        {pages > 1 && <Pagination total={pages} value={page} onChange={setPage} aria-label="Pages" getControlProps={paginationControlProps} />}
      </Group>
    </>
  );
}
