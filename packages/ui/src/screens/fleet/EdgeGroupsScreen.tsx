import { Anchor, Badge, Button, Paper, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import type { EdgeGroup } from "../../api/fleet-types.ts";
import { EmptyTableRow } from "../../components/EmptyTableRow.tsx";
import { LoadError } from "../../components/LoadError.tsx";
import { PageHeader } from "../../components/PageHeader.tsx";
import { PageLoader } from "../../components/PageLoader.tsx";
import { TableHead } from "../../components/TableHead.tsx";
import { i18n } from "../../i18n/index.ts";
import { namesById, useEdgeGroups, useTags } from "../../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../../hooks/use-page-title.ts";
import { useCan } from "../../hooks/use-current-user.ts";

/** How a group chooses its members, in words of the UI's language ("Dynamic: any of berlin"). */
export function groupRule(group: Pick<EdgeGroup, "Dynamic" | "PartialMatch" | "TagIds">, tagNames: ReadonlyMap<number, string>): string {
  if (!group.Dynamic) return i18n.t("fleet:edgeGroups.rule.static");
  const tags = group.TagIds.map((id) => tagNames.get(id) ?? i18n.t("fleet:values.tag", { id })).join(i18n.t("fleet:values.listSeparator"));
  if (tags === "") return group.PartialMatch ? i18n.t("fleet:edgeGroups.rule.dynamicAnyNoTags") : i18n.t("fleet:edgeGroups.rule.dynamicAllNoTags");
  return group.PartialMatch ? i18n.t("fleet:edgeGroups.rule.dynamicAny", { tags }) : i18n.t("fleet:edgeGroups.rule.dynamicAll", { tags });
}

/** `/edge-groups`: every edge group with its rule, member count and what uses it. */
export function EdgeGroupsScreen() {
  const { t } = useTranslation("fleet");
  usePageTitle(t("edgeGroups.title"));
  // Everyone reads their teams' groups; a group decides what its teams see, so only administrators create or change one.
  const canAdminister = useCan("administer");
  const groups = useEdgeGroups(5000);
  const tags = useTags(30_000);
  const tagNames = namesById(tags.data, (tag) => tag.ID, (tag) => tag.Name);

  return (
    <>
      <PageHeader
        title={t("edgeGroups.title")}
        description={t("edgeGroups.description")}
        actions={
          canAdminister && (
            <Button component={Link} to="/edge-groups/new" leftSection={<IconPlus size={16} />}>
              {t("edgeGroups.add")}
            </Button>
          )
        }
      />
      <LoadError message={groups.error} />
      {!groups.data ? (
        groups.error ? null : <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label={t("edgeGroups.title")}>
            <TableHead columns={[t("columns.name"), t("columns.members"), t("columns.rule"), t("columns.usedBy")]} />
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
                        {t("edgeGroups.usedByStacks")}
                      </Badge>
                    )}
                    {group.HasEdgeJob && <Badge variant="light">{t("edgeGroups.usedByJobs")}</Badge>}
                    {!group.HasEdgeStack && !group.HasEdgeJob && (
                      <Text size="sm" c="dimmed">
                        —
                      </Text>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
              {groups.data.length === 0 && <EmptyTableRow columns={4}>{t("edgeGroups.empty")}</EmptyTableRow>}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
