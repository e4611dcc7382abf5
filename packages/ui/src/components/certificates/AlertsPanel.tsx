import { Anchor, Badge, Paper, Table, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import type { AlertView } from "../../api/types.ts";
import { formatDateTime, formatNumber } from "../../format.ts";
import type { Polled } from "../../hooks/use-polling.ts";

/** The alerts whose condition holds (expiring without renewal, failed renewals, revoked devices connecting, clones); nothing when there are none. */
export function AlertsPanel({ alerts }: { alerts: Polled<AlertView[] | null> }) {
  const { t } = useTranslation("pki");
  const list = alerts.data ?? [];
  if (list.length === 0) return null;
  return (
    <Paper withBorder radius="md" p="lg" aria-label={t("alerts.title")} component="section" style={{ borderLeft: "4px solid var(--mantine-color-red-6)" }}>
      <Title order={2} size="h3">{t("alerts.title")}</Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t("alerts.description")}
      </Text>
      <Table verticalSpacing={4} aria-label={t("alerts.tableLabel")}>
        <Table.Tbody>
          {list.map((alert) => (
            <Table.Tr key={alert.Id}>
              <Table.Td w={200}>
                <Badge color="red" variant="light" styles={{ label: { textTransform: "none" } }} data-untranslated>
                  {alert.Kind}
                </Badge>
              </Table.Td>
              <Table.Td>
                <Text size="sm" data-untranslated>
                  {alert.Message}
                </Text>
                {alert.EnvironmentId !== null && (
                  <Anchor component={Link} to={`/environments/${alert.EnvironmentId}`} size="xs">
                    {alert.EdgeId ?? t("alerts.environment", { id: alert.EnvironmentId })}
                  </Anchor>
                )}
              </Table.Td>
              <Table.Td w={190}>
                <Text size="xs" c="dimmed">
                  {alert.Count > 1 ? t("alerts.lastAtTimes", { date: formatDateTime(alert.LastAt), times: formatNumber(alert.Count) }) : formatDateTime(alert.LastAt)}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}
