import { Anchor, Button, Code, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { agentUpdatesApi } from "../../api/fleet.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { AgentUpdateCounts } from "../../components/fleet/AgentUpdateCounts.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { formatDateTime } from "../../format.ts";
import { namesById, useEdgeGroups } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** `/agent-updates`: every agent update schedule with its image, groups and devices' progress. */
export function AgentUpdatesScreen() {
  const { t } = useTranslation("fleet");
  usePageTitle(t("agentUpdates.title"));
  // Helpdesk reads; creating needs Operator (the server refuses it otherwise).
  const canOperate = useCan("operate");
  const schedules = usePolling((signal) => agentUpdatesApi.list({ signal }), 5000, "agent-updates");
  const groups = useEdgeGroups(30_000);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);

  return (
    <>
      <PageHeader
        title={t("agentUpdates.title")}
        description={t("agentUpdates.description")}
        actions={
          canOperate && (
            <Button component={Link} to="/agent-updates/new" leftSection={<IconPlus size={16} />}>
              {t("agentUpdates.add")}
            </Button>
          )
        }
      />
      <LoadError message={schedules.error} />
      {!schedules.data ? (
        schedules.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label={t("agentUpdates.title")}>
            <TableHead columns={[t("columns.name"), t("columns.image"), t("columns.edgeGroups"), t("columns.devices"), t("columns.created")]} />
            <Table.Tbody>
              {schedules.data.map((schedule) => (
                <Table.Tr key={schedule.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/agent-updates/${schedule.id}`} fw={500}>
                      {schedule.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <Code>{schedule.agentImage}</Code>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{schedule.edgeGroupIds.map((id) => groupNames.get(id) ?? t("values.group", { id })).join(t("values.listSeparator")) || "—"}</Text>
                  </Table.Td>
                  <Table.Td>
                    <AgentUpdateCounts schedule={schedule} />
                  </Table.Td>
                  <Table.Td>{formatDateTime(schedule.created * 1000)}</Table.Td>
                </Table.Tr>
              ))}
              {schedules.data.length === 0 && <EmptyTableRow columns={5}>{t("agentUpdates.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
