import { Anchor, Button, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { edgeStacksApi } from "../../api/fleet.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { StatusCounts } from "../../components/fleet/StatusCounts.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { formatDateTime } from "../../format.ts";
import { namesById, useEdgeGroups } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** `/edge-stacks`: every edge stack with its groups, version and how many devices are in each state. */
export function EdgeStacksScreen() {
  const { t } = useTranslation("fleet");
  usePageTitle(t("edgeStacks.title"));
  // Helpdesk reads; creating needs Operator (the server refuses it otherwise).
  const canOperate = useCan("operate");
  const stacks = usePolling((signal) => edgeStacksApi.list({ signal }), 5000, "edge-stacks");
  const groups = useEdgeGroups(30_000);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);

  return (
    <>
      <PageHeader
        title={t("edgeStacks.title")}
        description={t("edgeStacks.description")}
        actions={
          canOperate && (
            <Button component={Link} to="/edge-stacks/new" leftSection={<IconPlus size={16} />}>
              {t("edgeStacks.add")}
            </Button>
          )
        }
      />
      <LoadError message={stacks.error} />
      {!stacks.data ? (
        stacks.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label={t("edgeStacks.title")}>
            <TableHead columns={[t("columns.name"), t("columns.edgeGroups"), t("columns.version"), t("columns.devices"), t("columns.created")]} />
            <Table.Tbody>
              {stacks.data.map((stack) => (
                <Table.Tr key={stack.Id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/edge-stacks/${stack.Id}`} fw={500}>
                      {stack.Name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{stack.EdgeGroups.map((id) => groupNames.get(id) ?? t("values.group", { id })).join(t("values.listSeparator")) || "—"}</Text>
                  </Table.Td>
                  <Table.Td>{`v${stack.Version}`}</Table.Td>
                  <Table.Td>
                    <StatusCounts stack={stack} />
                  </Table.Td>
                  <Table.Td>{stack.CreationDate ? formatDateTime(stack.CreationDate * 1000) : "—"}</Table.Td>
                </Table.Tr>
              ))}
              {stacks.data.length === 0 && <EmptyTableRow columns={5}>{t("edgeStacks.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
