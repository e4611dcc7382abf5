import { Anchor, Badge, Paper, Table, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import type { AlertView } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";
import type { Polled } from "../../hooks/use-polling.ts";

/** The alerts whose condition holds (expiring without renewal, failed renewals, revoked devices connecting, clones); nothing when there are none. */
export function AlertsPanel({ alerts }: { alerts: Polled<AlertView[] | null> }) {
  const list = alerts.data ?? [];
  if (list.length === 0) return null;
  return (
    <Paper withBorder radius="md" p="lg" aria-label="Alerts" component="section" style={{ borderLeft: "4px solid var(--mantine-color-red-6)" }}>
      <Title order={2} size="h3">Alerts</Title>
      <Text size="sm" c="dimmed" mb="sm">
        Conditions that need you now; each is also sent to the webhook when one is set.
      </Text>
      <Table verticalSpacing={4} aria-label="Active alerts">
        <Table.Tbody>
          {list.map((alert) => (
            <Table.Tr key={alert.Id}>
              <Table.Td w={200}>
                <Badge color="red" variant="light" styles={{ label: { textTransform: "none" } }}>
                  {alert.Kind}
                </Badge>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{alert.Message}</Text>
                {alert.EnvironmentId !== null && (
                  <Anchor component={Link} to={`/environments/${alert.EnvironmentId}`} size="xs">
                    {alert.EdgeId ?? `environment ${alert.EnvironmentId}`}
                  </Anchor>
                )}
              </Table.Td>
              <Table.Td w={190}>
                <Text size="xs" c="dimmed">
                  {formatDateTime(alert.LastAt)}
                  {alert.Count > 1 ? ` · ${alert.Count} times` : ""}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}
