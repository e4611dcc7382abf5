import { Anchor, Badge, Button, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { Link } from "react-router";
import type { EdgeGroup } from "../../api/fleet-types.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { namesById, useEdgeGroups, useTags } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** How a group chooses its members, in words. */
export function groupRule(group: Pick<EdgeGroup, "Dynamic" | "PartialMatch" | "TagIds">, tagNames: ReadonlyMap<number, string>): string {
  if (!group.Dynamic) return "Static: chosen environments";
  const tags = group.TagIds.map((id) => tagNames.get(id) ?? `tag ${id}`).join(", ");
  return `Dynamic: ${group.PartialMatch ? "any" : "all"} of ${tags || "no tags"}`;
}

/** `/edge-groups`: every edge group with its rule, member count and what uses it. */
export function EdgeGroupsScreen() {
  usePageTitle("Edge groups");
  // Helpdesk reads; creating needs Operator (the server refuses it otherwise).
  const canOperate = useCan("operate");
  const groups = useEdgeGroups(5000);
  const tags = useTags(30_000);
  const tagNames = namesById(tags.data, (tag) => tag.ID, (tag) => tag.Name);

  return (
    <>
      <PageHeader
        title="Edge groups"
        description="Sets of environments that edge stacks and edge jobs target: chosen by hand (static), or by tags (dynamic). Only associated environments are members."
        actions={
          canOperate && (
            <Button component={Link} to="/edge-groups/new" leftSection={<IconPlus size={16} />}>
              Add edge group
            </Button>
          )
        }
      />
      <LoadError message={groups.error} />
      {!groups.data ? (
        groups.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label="Edge groups">
            <TableHead columns={["Name", "Members", "Rule", "Used by"]} />
            <Table.Tbody>
              {groups.data.map((group) => (
                <Table.Tr key={group.Id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/edge-groups/${group.Id}`} fw={500}>
                      {group.Name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{group.Endpoints.length}</Table.Td>
                  <Table.Td>
                    <Text size="sm">{groupRule(group, tagNames)}</Text>
                  </Table.Td>
                  <Table.Td>
                    {group.HasEdgeStack && (
                      <Badge variant="light" mr={4}>
                        stacks
                      </Badge>
                    )}
                    {group.HasEdgeJob && <Badge variant="light">jobs</Badge>}
                    {!group.HasEdgeStack && !group.HasEdgeJob && (
                      <Text size="sm" c="dimmed">
                        —
                      </Text>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
              {groups.data.length === 0 && <EmptyTableRow columns={4}>No edge group yet.</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
