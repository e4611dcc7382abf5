import { Alert, Anchor, Checkbox, Group, MultiSelect, NativeSelect, Paper, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { IconSearch } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { loadAllMatching, maxSearchLength } from "../api/environment-list.ts";
import { messageOf } from "../api/client.ts";
import { notifications } from "@mantine/notifications";
import type { Endpoint } from "../api/types.ts";
import { CloneBadge } from "../components/CloneFlag.tsx";
import { HeartbeatBadge } from "../components/HeartbeatBadge.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { formatAgo, formatDateTime, formatExpiry } from "../format.ts";
import { useEnvironmentList } from "../hooks/use-environment-list.ts";
import { namesById, useEdgeGroups, useTags } from "../hooks/use-fleet-lists.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { useSelection } from "../hooks/use-selection.ts";
import { useCan, useCurrentUser } from "../hooks/use-current-user.ts";
import { TagChips } from "../components/fleet/TagChips.tsx";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { ListPager } from "../components/environment-list/ListPager.tsx";
import { SortableHeader } from "../components/environment-list/SortableHeader.tsx";
import { StatusCounts } from "../components/environment-list/StatusCounts.tsx";
import { SelectionBar } from "../components/environment-list/SelectionBar.tsx";
import { HomeBulkActions } from "../components/environment-list/HomeBulkActions.tsx";

type StatusFilter = "all" | "online" | "offline";

const statusFilters: readonly StatusFilter[] = ["all", "online", "offline"];

function statusOf(value: string): StatusFilter {
  return value === "online" || value === "offline" ? value : "all";
}

function platformOf(environment: Endpoint): string {
  const { Platform, OS, Arch } = environment.Pier;
  const system = OS && Arch ? `${OS}/${Arch}` : OS;
  return [Platform, system].filter(Boolean).join(" · ") || "—";
}

/**
 * `/`: the environments (all but the devices waiting in the Waiting Room; an environment no device
 * has used yet is listed here) with their heartbeat, platform, agent, last check-in and certificate
 * expiry, a page at a time: the server searches, sorts, pages and counts.
 */
export function HomeScreen() {
  const { t } = useTranslation("environments");
  const { t: tTeams } = useTranslation("teams");
  // Not an administrator and in no team: the server shows nothing (default deny); say why and whom to ask.
  const me = useCurrentUser();
  const inNoTeam = me.AllEnvironments === false && (me.Teams ?? []).length === 0;
  const list = useEnvironmentList("home", 5000);
  const { query } = list;
  const environments = list.page;
  const shown = environments.data?.items ?? [];
  const total = environments.data?.total ?? 0;
  const filtered = query.search.trim() !== "" || query.status !== undefined || (query.tagIds?.length ?? 0) > 0 || query.edgeGroupId !== undefined;
  const tags = useTags(30_000);
  const groups = useEdgeGroups(30_000);
  const tagNames = namesById(tags.data, (tag) => tag.ID, (tag) => tag.Name);
  usePageTitle(t("home.title"));
  const selection = useSelection(shown);
  // Selecting is for changing: helpdesk users read.
  const canOperate = useCan("operate");

  async function selectAllMatching() {
    try {
      selection.set(await loadAllMatching(query, new AbortController().signal));
    } catch (failure) {
      notifications.show({ color: "red", title: t("home.selectAllFailed"), message: messageOf(failure), autoClose: false });
    }
  }

  return (
    <>
      <PageHeader title={t("home.title")} description={t("home.description")} />
      {inNoTeam && (
        <Alert color="yellow" title={tTeams("noTeam.title")} mb="md">
          {tTeams("noTeam.text")}
        </Alert>
      )}
      <LoadError message={environments.error} />
      <StatusCounts intervalMs={5000} status={query.status} onStatus={list.setStatus} />
      <Group mb="md" align="flex-end">
        <TextInput label={t("lists.search")} placeholder={t("home.searchPlaceholder")} leftSection={<IconSearch size={16} />} value={query.search} maxLength={maxSearchLength} onChange={(event) => list.setSearch(event.currentTarget.value)} w={340} />
        <NativeSelect
          label={t("home.status.label")}
          data={statusFilters.map((value) => ({ value, label: t(`home.status.${value}`) }))}
          value={query.status ?? "all"}
          onChange={(event) => {
            const status = statusOf(event.currentTarget.value);
            list.setStatus(status === "all" ? undefined : status);
          }}
          w={160}
        />
        <MultiSelect
          label={t("home.tags")}
          placeholder={(query.tagIds?.length ?? 0) === 0 ? t("home.any") : undefined}
          data={(tags.data ?? []).map((tag) => ({ value: String(tag.ID), label: tag.Name }))}
          value={(query.tagIds ?? []).map(String)}
          onChange={(values) => list.setTagIds(values.map(Number))}
          searchable
          clearable
          w={240}
        />
        <NativeSelect
          label={t("home.edgeGroup")}
          data={[{ value: "", label: t("home.any") }, ...(groups.data ?? []).map((group) => ({ value: String(group.Id), label: group.Name }))]}
          value={query.edgeGroupId === undefined ? "" : String(query.edgeGroupId)}
          onChange={(event) => list.setEdgeGroupId(event.currentTarget.value === "" ? undefined : Number(event.currentTarget.value))}
          w={200}
        />
      </Group>
      {environments.loading && !environments.data ? (
        <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label={t("home.title")}>
            <Table.Thead>
              <Table.Tr>
                {canOperate && (
                  <Table.Th w={40}>
                    <Checkbox aria-label={t("home.selectPage")} checked={selection.allOnPage} indeterminate={selection.someOnPage && !selection.allOnPage} disabled={shown.length === 0} onChange={(event) => selection.toggle(shown, event.currentTarget.checked)} />
                  </Table.Th>
                )}
                <SortableHeader sort="Name" current={query.sort} order={query.order} onSort={list.toggleSort}>
                  {t("home.columns.name")}
                </SortableHeader>
                <Table.Th>{t("home.columns.heartbeat")}</Table.Th>
                <Table.Th>{t("home.columns.platform")}</Table.Th>
                <Table.Th>{t("home.columns.agentVersion")}</Table.Th>
                <SortableHeader sort="LastCheckIn" current={query.sort} order={query.order} onSort={list.toggleSort}>
                  {t("home.columns.lastCheckIn")}
                </SortableHeader>
                <Table.Th>{t("home.columns.certificateExpires")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((environment) => (
                <Table.Tr key={environment.Id} bg={selection.has(environment.Id) ? "var(--mantine-color-blue-light)" : undefined}>
                  {canOperate && (
                    <Table.Td>
                      <Checkbox aria-label={t("home.select", { name: environment.Name })} checked={selection.has(environment.Id)} onChange={(event) => selection.toggle([environment], event.currentTarget.checked)} />
                    </Table.Td>
                  )}
                  <Table.Td>
                    <Anchor component={Link} to={`/environments/${environment.Id}`} fw={500}>
                      {environment.Name}
                    </Anchor>
                    <CloneBadge clone={environment.Pier.Clone} />
                    {/* Names need not be unique: the Edge ID tells two of the same name apart. */}
                    {environment.EdgeID !== "" && environment.EdgeID !== environment.Name && (
                      <Text size="xs" c="dimmed" ff="monospace">
                        {environment.EdgeID}
                      </Text>
                    )}
                    <TagChips ids={environment.TagIds} names={tagNames} />
                    {environment.EdgeID === "" && (
                      <Text size="xs" c="dimmed">
                        {t("home.unused")}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <HeartbeatBadge alive={environment.Heartbeat} docker={environment.Pier} />
                  </Table.Td>
                  <Table.Td>{platformOf(environment)}</Table.Td>
                  <Table.Td>{environment.Agent.Version || "—"}</Table.Td>
                  <Table.Td>
                    <Tooltip label={formatDateTime(environment.LastCheckInDate * 1000)} disabled={environment.LastCheckInDate === 0}>
                      <span>{formatAgo(environment.LastCheckInDate)}</span>
                    </Tooltip>
                  </Table.Td>
                  <Table.Td>{environment.Pier.ClientCertificate ? formatExpiry(environment.Pier.ClientCertificate.NotAfter) : "—"}</Table.Td>
                </Table.Tr>
              ))}
              {shown.length === 0 && (
                <EmptyTableRow columns={canOperate ? 7 : 6}>{inNoTeam ? tTeams("noTeam.title") : filtered ? t("home.empty.filtered") : t("home.empty.none")}</EmptyTableRow>
              )}
            </Table.Tbody>
          </Table>
          <ListPager total={total} page={query.page} pageSize={query.pageSize} shown={shown.length} totalText={t("home.total", { count: total })} onPage={list.setPage} onPageSize={list.setPageSize} />
        </Paper>
      )}
      <SelectionBar selected={selection.size} matching={total} onSelectAllMatching={selection.allOnPage ? () => void selectAllMatching() : undefined} onClear={selection.clear}>
        <HomeBulkActions
          chosen={selection.chosen}
          onDone={async () => {
            selection.clear();
            // A tag or group made since the screen opened is named, not shown as "tag N".
            await Promise.all([environments.refresh(), tags.refresh(), groups.refresh()]);
          }}
        />
      </SelectionBar>
    </>
  );
}
