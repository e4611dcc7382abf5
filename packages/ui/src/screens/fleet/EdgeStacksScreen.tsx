import { Anchor, Button, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
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
  usePageTitle("Edge stacks");
  // Helpdesk reads; creating needs Operator (the server refuses it otherwise).
  const canOperate = useCan("operate");
  const stacks = usePolling((signal) => edgeStacksApi.list({ signal }), 5000, "edge-stacks");
  const groups = useEdgeGroups(30_000);
  const groupNames = namesById(groups.data, (group) => group.Id, (group) => group.Name);

  return (
    <>
      <PageHeader
        title="Edge stacks"
        description="Compose applications deployed to every environment of their edge groups; each device reports its progress."
        actions={
          canOperate && (
            <Button component={Link} to="/edge-stacks/new" leftSection={<IconPlus size={16} />}>
              Add edge stack
            </Button>
          )
        }
      />
      <LoadError message={stacks.error} />
      {!stacks.data ? (
        stacks.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label="Edge stacks">
            <TableHead columns={["Name", "Edge groups", "Version", "Devices", "Created"]} />
            <Table.Tbody>
              {stacks.data.map((stack) => (
                <Table.Tr key={stack.Id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/edge-stacks/${stack.Id}`} fw={500}>
                      {stack.Name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{stack.EdgeGroups.map((id) => groupNames.get(id) ?? `group ${id}`).join(", ") || "—"}</Text>
                  </Table.Td>
                  <Table.Td>v{stack.Version}</Table.Td>
                  <Table.Td>
                    <StatusCounts stack={stack} />
                  </Table.Td>
                  <Table.Td>{stack.CreationDate ? formatDateTime(stack.CreationDate * 1000) : "—"}</Table.Td>
                </Table.Tr>
              ))}
              {stacks.data.length === 0 && <EmptyTableRow columns={5}>No edge stack yet.</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
