import { Button, Checkbox, Code, Group, Paper, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconSearch, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import { Trans, useTranslation } from "react-i18next";
import { api, messageOf } from "../api/client.ts";
import { loadAllMatching, maxSearchLength } from "../api/environment-list.ts";
import type { Endpoint } from "../api/types.ts";
import { CloneBadge } from "../components/CloneFlag.tsx";
import { ConfirmDialog, type ConfirmRequest } from "../components/ConfirmDialog.tsx";
import { WaitingIdentity } from "../components/identity/IdentityFlow.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { formatAgo, formatDateTime, formatExpiry, shortId } from "../format.ts";
import { useEnvironmentList } from "../hooks/use-environment-list.ts";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";
import { ListPager } from "../components/environment-list/ListPager.tsx";
import { SortableHeader } from "../components/environment-list/SortableHeader.tsx";
import { SelectionBar } from "../components/environment-list/SelectionBar.tsx";
import { forEachInBulk } from "../api/bulk.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";
import { useSelection } from "../hooks/use-selection.ts";
import { useCan } from "../hooks/use-current-user.ts";
import { namesList } from "../list-format.ts";

/** A few devices' Edge IDs for a confirmation: the first five, then how many more. */
function namesOf(devices: readonly Endpoint[]): string {
  return namesList(devices.map((device) => device.EdgeID));
}

/**
 * `/waiting-room`: devices that checked in and wait to be associated (or removed), a page at a
 * time (the server searches, sorts and pages); the selection is kept across pages and can take every matching device.
 */
export function WaitingRoomScreen() {
  const { t } = useTranslation("environments");
  usePageTitle(t("waitingRoom.title"));
  const waiting = useEnvironmentList("waiting-room", 3000, "EdgeID");
  const { query } = waiting;
  const devices = waiting.page;
  // Kept across pages ("Select all N matching"); a device associated or removed elsewhere fails
  // its action with the server's reason, which is shown.
  const list = devices.data?.items ?? [];
  const total = devices.data?.total ?? 0;
  const selection = useSelection(list);
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [busy, setBusy] = useState(false);
  const [selectingAll, setSelectingAll] = useState(false);
  // Helpdesk sees the room; associating and removing devices needs Operator.
  const canOperate = useCan("operate");

  async function selectAllMatching() {
    setSelectingAll(true);
    try {
      const all = await loadAllMatching(query, new AbortController().signal);
      selection.set(all);
    } catch (failure) {
      notifications.show({ color: "red", title: t("waitingRoom.selectAllFailed"), message: messageOf(failure), autoClose: false });
    } finally {
      setSelectingAll(false);
    }
  }

  async function applyToSelection(what: "associate" | "remove", devicesToChange: Endpoint[]) {
    setBusy(true);
    const outcomes = await forEachInBulk(devicesToChange, (device) => (what === "associate" ? api<Partial<Endpoint> | undefined>("PUT", `/api/endpoints/${device.Id}`, { body: { UserTrusted: true } }) : api<undefined>("DELETE", `/api/endpoints/${device.Id}`)));
    const notApplied = outcomes.flatMap((outcome) => {
      const names = outcome.ok ? outcome.value?.Pier?.EdgeGroupsNotApplied : undefined;
      const groups = names?.map(({ Name, Reason }) => t("waitingRoom.notApplied.group", { name: Name, reason: t(Reason === "dynamic" ? "waitingRoom.notApplied.dynamic" : "waitingRoom.notApplied.missing") }));
      return groups && groups.length > 0 ? [`${outcome.item.EdgeID}: ${groups.join(t("lists.separator"))}`] : [];
    });
    if (notApplied.length > 0) notifications.show({ color: "yellow", title: t("waitingRoom.notApplied.title"), message: notApplied.join("\n"), autoClose: false });
    const failed = outcomes.flatMap((outcome) => (outcome.ok ? [] : [`${outcome.item.EdgeID}: ${outcome.error}`]));
    const done = devicesToChange.length - failed.length;
    if (done > 0) notifications.show({ color: "green", message: t(`waitingRoom.${what}.done`, { count: done }) });
    if (failed.length > 0) notifications.show({ color: "red", title: t(`waitingRoom.${what}.failed`), message: failed.join("\n"), autoClose: false });
    selection.clear();
    await devices.refresh();
    setBusy(false);
  }

  // One device: at once, as before. Several: the dialog names how many and a few of them.
  function askAssociate() {
    const toAssociate = [...selection.chosen];
    if (toAssociate.length === 1) {
      void applyToSelection("associate", toAssociate);
      return;
    }
    setConfirm({
      title: t("waitingRoom.associate.title", { count: toAssociate.length }),
      message: t("waitingRoom.associate.message", { names: namesOf(toAssociate) }),
      confirmLabel: t("waitingRoom.associate.confirm", { count: toAssociate.length }),
      safe: true,
      onConfirm: () => applyToSelection("associate", toAssociate),
    });
  }

  function askRemove() {
    const toRemove = [...selection.chosen];
    setConfirm({
      title: toRemove.length === 1 ? t("waitingRoom.remove.titleOne", { edgeId: toRemove[0]?.EdgeID ?? t("waitingRoom.remove.theDevice") }) : t("waitingRoom.remove.title", { count: toRemove.length }),
      message: toRemove.length === 1 ? t("waitingRoom.remove.messageOne") : t("waitingRoom.remove.message", { names: namesOf(toRemove) }),
      confirmLabel: toRemove.length === 1 ? t("waitingRoom.remove.confirmOne") : t("waitingRoom.remove.confirm", { count: toRemove.length }),
      onConfirm: () => applyToSelection("remove", toRemove),
    });
  }

  return (
    <>
      <PageHeader
        title={t("waitingRoom.title")}
        description={t("waitingRoom.description")}
      />
      <LoadError message={devices.error} />
      <Group mb="md" align="flex-end">
        <TextInput label={t("lists.search")} placeholder={t("waitingRoom.searchPlaceholder")} leftSection={<IconSearch size={16} />} value={query.search} maxLength={maxSearchLength} onChange={(event) => waiting.setSearch(event.currentTarget.value)} w={340} />
      </Group>
      {devices.loading && !devices.data ? (
        <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table highlightOnHover verticalSpacing="sm" aria-label={t("waitingRoom.table")}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={40}>
                  <Checkbox
                    aria-label={t("waitingRoom.selectAll")}
                    checked={selection.allOnPage}
                    indeterminate={selection.someOnPage && !selection.allOnPage}
                    disabled={list.length === 0}
                    onChange={(event) => selection.toggle(list, event.currentTarget.checked)}
                  />
                </Table.Th>
                <SortableHeader sort="EdgeID" current={query.sort} order={query.order} onSort={waiting.toggleSort}>
                  {t("waitingRoom.columns.edgeId")}
                </SortableHeader>
                <Table.Th>{t("waitingRoom.columns.hostname")}</Table.Th>
                <Table.Th>{t("waitingRoom.columns.sourceAddress")}</Table.Th>
                <Table.Th>{t("waitingRoom.columns.identity")}</Table.Th>
                <Table.Th>{t("waitingRoom.columns.certificate")}</Table.Th>
                <SortableHeader sort="LastCheckIn" current={query.sort} order={query.order} onSort={waiting.toggleSort}>
                  {t("waitingRoom.columns.lastCheckIn")}
                </SortableHeader>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((device) => {
                const certificate = device.Pier.ClientCertificate;
                return (
                  <Table.Tr key={device.Id} bg={selection.has(device.Id) ? "var(--mantine-color-blue-light)" : undefined}>
                    <Table.Td>
                      <Checkbox aria-label={t("waitingRoom.select", { edgeId: device.EdgeID })} checked={selection.has(device.Id)} onChange={(event) => selection.toggle([device], event.currentTarget.checked)} />
                    </Table.Td>
                    <Table.Td>
                      <Text fw={500} ff="monospace" size="sm">
                        {device.EdgeID}
                      </Text>
                      {device.Name !== device.EdgeID && (
                        <Text size="xs" c="dimmed" data-testid="waiting-name">
                          {device.Name}
                        </Text>
                      )}
                      <CloneBadge clone={device.Pier.Clone} />
                      {(device.Pier.RequestedEdgeGroups?.length ?? 0) > 0 && (
                        <Text size="xs" c="dimmed">
                          {t("waitingRoom.asksForGroups", { groups: (device.Pier.RequestedEdgeGroups ?? []).join(t("lists.separator")) })}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>{device.Pier.Hostname || "—"}</Table.Td>
                    <Table.Td>{device.Pier.SourceAddress || "—"}</Table.Td>
                    <Table.Td>{device.Pier.Identity ? <WaitingIdentity identity={device.Pier.Identity} /> : "—"}</Table.Td>
                    <Table.Td>
                      {certificate ? (
                        <Stack gap={2}>
                          <Text size="sm">{certificate.Subject}</Text>
                          <Text size="xs" c="dimmed">
                            <Trans t={t} i18nKey="waitingRoom.fingerprint" values={{ fingerprint: shortId(certificate.FingerprintSHA256), expiry: formatExpiry(certificate.NotAfter) }} components={{ code: <Code /> }} />
                          </Text>
                        </Stack>
                      ) : (
                        <Text size="sm" c="dimmed">
                          {device.Pier.Identity?.Flow === "built-in" ? t("waitingRoom.issuedOnAssociation") : t("waitingRoom.noCertificate")}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Tooltip label={formatDateTime(device.LastCheckInDate * 1000)} disabled={device.LastCheckInDate === 0}>
                        <span>{formatAgo(device.LastCheckInDate)}</span>
                      </Tooltip>
                    </Table.Td>
                  </Table.Tr>
                );
              })}
              {list.length === 0 && (
                <EmptyTableRow columns={7}>{query.search.trim() === "" ? t("waitingRoom.empty.none") : t("waitingRoom.empty.filtered")}</EmptyTableRow>
              )}
            </Table.Tbody>
          </Table>
          <ListPager total={devices.data?.total ?? 0} page={query.page} pageSize={query.pageSize} shown={list.length} totalText={t("waitingRoom.total", { count: devices.data?.total ?? 0 })} onPage={waiting.setPage} onPageSize={waiting.setPageSize} />
        </Paper>
      )}
      <SelectionBar selected={selection.size} matching={total} onSelectAllMatching={selection.allOnPage ? () => void selectAllMatching() : undefined} selectingAll={selectingAll} onClear={selection.clear}>
        {canOperate && (
          <>
            <Button leftSection={<IconCheck size={16} />} loading={busy} onClick={askAssociate}>
              {t("waitingRoom.associate.button")}
            </Button>
            <Button color="red" variant="light" leftSection={<IconTrash size={16} />} disabled={busy} onClick={askRemove}>
              {t("waitingRoom.remove.button")}
            </Button>
          </>
        )}
      </SelectionBar>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
