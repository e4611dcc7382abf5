import { Badge, Paper, Table, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../../api/client.ts";
import type { AuditEventView } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { EmptyTableRow } from "../EmptyTableRow.tsx";
import { LoadError } from "../LoadError.tsx";

// Refusals and revocations in red, the identity's steps in blue, the rest grey.
function colorOf(kind: string): string {
  if (/refused|revoked|conflict|clone|failed/.test(kind)) return "red";
  if (/certificate|enrol|approved|associated|rotation/.test(kind)) return "blue";
  return "gray";
}

/** `serial: 1a2b · reason: keyCompromise`, nested values as JSON, long values cut. */
export function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([key, value]) => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      return `${key}: ${text.length > 120 ? `${text.slice(0, 119)}…` : text}`;
    })
    .join(" · ");
}

/** The environment's audit trail (`GET /api/endpoints/{id}/events`, newest first): enrollment, issuance, renewals, revocation, refusals. */
export function AuditTrail({ environmentId }: { environmentId: number }) {
  const { t } = useTranslation("pki");
  const events = usePolling((signal) => api<AuditEventView[]>("GET", `/api/endpoints/${environmentId}/events`, { signal }), 10_000, String(environmentId));
  const list = events.data ?? [];
  return (
    <Paper withBorder radius="md" p="lg" mt="lg">
      <Title order={2} size="h3">{t("audit.title")}</Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t("audit.description")}
      </Text>
      <LoadError message={events.error} />
      <Table verticalSpacing={4} aria-label={t("audit.title")}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={170}>{t("audit.columns.when")}</Table.Th>
            <Table.Th w={220}>{t("audit.columns.event")}</Table.Th>
            <Table.Th w={130}>{t("audit.columns.from")}</Table.Th>
            <Table.Th>{t("audit.columns.detail")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.map((event) => (
            <Table.Tr key={event.Id}>
              <Table.Td>
                <Text size="sm">{formatDateTime(event.At)}</Text>
              </Table.Td>
              <Table.Td>
                <Badge variant="light" color={colorOf(event.Kind)} styles={{ label: { textTransform: "none" } }} data-untranslated>
                  {event.Kind}
                </Badge>
              </Table.Td>
              <Table.Td>
                <Text size="sm" data-untranslated>
                  {event.SourceAddress || "—"}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="xs" c="dimmed" style={{ wordBreak: "break-word" }} data-untranslated>
                  {detailText(event.Detail)}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
          {events.data && list.length === 0 && <EmptyTableRow columns={4}>{t("audit.empty")}</EmptyTableRow>}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}
