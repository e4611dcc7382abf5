import { Button, Checkbox, Code, Group, Paper, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconSearch, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
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

/** A few devices' Edge IDs for a confirmation: the first five, then how many more. */
function namesOf(devices: readonly Endpoint[]): string {
  const shown = devices.slice(0, 5).map((device) => device.EdgeID);
  return devices.length > shown.length ? `${shown.join(", ")} and ${devices.length - shown.length} more` : shown.join(", ");
}

/**
 * `/waiting-room`: devices that checked in and wait to be associated (or removed), a page at a
 * time (the server searches, sorts and pages); the selection is kept across pages and can take every matching device.
 */
export function WaitingRoomScreen() {
  usePageTitle("Waiting Room");
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
      notifications.show({ color: "red", title: "Could not select every matching device", message: messageOf(failure), autoClose: false });
    } finally {
      setSelectingAll(false);
    }
  }

  async function applyToSelection(what: "associate" | "remove", devicesToChange: Endpoint[]) {
    setBusy(true);
    const outcomes = await forEachInBulk(devicesToChange, (device) => (what === "associate" ? api<Partial<Endpoint> | undefined>("PUT", `/api/endpoints/${device.Id}`, { body: { UserTrusted: true } }) : api<undefined>("DELETE", `/api/endpoints/${device.Id}`)));
    const notApplied = outcomes.flatMap((outcome) => {
      const names = outcome.ok ? outcome.value?.Pier?.EdgeGroupsNotApplied : undefined;
      return names && names.length > 0 ? [`${outcome.item.EdgeID}: ${names.map(({ Name, Reason }) => `${Name} (${Reason === "dynamic" ? "a dynamic group: joined through tags" : "no such group"})`).join(", ")}`] : [];
    });
    if (notApplied.length > 0) notifications.show({ color: "yellow", title: "Requested edge groups not applied", message: notApplied.join("\n"), autoClose: false });
    const failed = outcomes.flatMap((outcome) => (outcome.ok ? [] : [`${outcome.item.EdgeID}: ${outcome.error}`]));
    const done = devicesToChange.length - failed.length;
    if (done > 0) notifications.show({ color: "green", message: `${what === "associate" ? "Associated" : "Removed"} ${done} device${done === 1 ? "" : "s"}.` });
    if (failed.length > 0) notifications.show({ color: "red", title: `Some devices could not be ${what === "associate" ? "associated" : "removed"}`, message: failed.join("\n"), autoClose: false });
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
      title: `Associate ${toAssociate.length} devices?`,
      message: `Each becomes an environment this server manages and, with the built-in CA, receives its certificate: ${namesOf(toAssociate)}. Compare their key fingerprints with the ones the agents logged before you associate devices you do not recognise.`,
      confirmLabel: `Associate ${toAssociate.length} devices`,
      safe: true,
      onConfirm: () => applyToSelection("associate", toAssociate),
    });
  }

  function askRemove() {
    const toRemove = [...selection.chosen];
    setConfirm({
      title: toRemove.length === 1 ? `Remove ${toRemove[0]?.EdgeID ?? "the device"}?` : `Remove ${toRemove.length} devices?`,
      message:
        toRemove.length === 1
          ? "Its session is closed and it is forgotten. If its agent keeps running with a fleet-wide key, it comes back here as a new device: stop the agent, or revoke its certificate."
          : `Their sessions are closed and they are forgotten (${namesOf(toRemove)}). Agents that keep running with a fleet-wide key come back here as new devices: stop them, or revoke their certificates.`,
      confirmLabel: toRemove.length === 1 ? "Remove device" : `Remove ${toRemove.length} devices`,
      onConfirm: () => applyToSelection("remove", toRemove),
    });
  }

  return (
    <>
      <PageHeader
        title="Waiting Room"
        description="Devices that checked in with a valid key and wait for an administrator. Associate the ones you recognise (compare the key fingerprint with the one the agent logged); remove the others."
      />
      <LoadError message={devices.error} />
      <Group mb="md" align="flex-end">
        <TextInput label="Search" placeholder="Edge ID, name or source address" leftSection={<IconSearch size={16} />} value={query.search} maxLength={maxSearchLength} onChange={(event) => waiting.setSearch(event.currentTarget.value)} w={340} />
      </Group>
      {devices.loading && !devices.data ? (
        <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table highlightOnHover verticalSpacing="sm" aria-label="Waiting devices">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={40}>
                  <Checkbox
                    aria-label="Select all"
                    checked={selection.allOnPage}
                    indeterminate={selection.someOnPage && !selection.allOnPage}
                    disabled={list.length === 0}
                    onChange={(event) => selection.toggle(list, event.currentTarget.checked)}
                  />
                </Table.Th>
                <SortableHeader sort="EdgeID" current={query.sort} order={query.order} onSort={waiting.toggleSort}>
                  Edge ID
                </SortableHeader>
                <Table.Th>Hostname</Table.Th>
                <Table.Th>Source address</Table.Th>
                <Table.Th>Identity</Table.Th>
                <Table.Th>Client certificate</Table.Th>
                <SortableHeader sort="LastCheckIn" current={query.sort} order={query.order} onSort={waiting.toggleSort}>
                  Last check-in
                </SortableHeader>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((device) => {
                const certificate = device.Pier.ClientCertificate;
                return (
                  <Table.Tr key={device.Id} bg={selection.has(device.Id) ? "var(--mantine-color-blue-light)" : undefined}>
                    <Table.Td>
                      <Checkbox aria-label={`Select ${device.EdgeID}`} checked={selection.has(device.Id)} onChange={(event) => selection.toggle([device], event.currentTarget.checked)} />
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
                          asks for edge groups: {device.Pier.RequestedEdgeGroups?.join(", ")}
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
                            SHA-256 <Code>{shortId(certificate.FingerprintSHA256)}</Code> · expires {formatExpiry(certificate.NotAfter)}
                          </Text>
                        </Stack>
                      ) : (
                        <Text size="sm" c="dimmed">
                          {device.Pier.Identity?.Flow === "built-in" ? "issued on association" : "none (no mTLS)"}
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
                <EmptyTableRow columns={7}>{query.search.trim() === "" ? "No device is waiting" : "No waiting device matches the search."}</EmptyTableRow>
              )}
            </Table.Tbody>
          </Table>
          <ListPager total={devices.data?.total ?? 0} page={query.page} pageSize={query.pageSize} shown={list.length} noun={["waiting device", "waiting devices"]} onPage={waiting.setPage} onPageSize={waiting.setPageSize} />
        </Paper>
      )}
      <SelectionBar selected={selection.size} matching={total} onSelectAllMatching={selection.allOnPage ? () => void selectAllMatching() : undefined} selectingAll={selectingAll} onClear={selection.clear}>
        {canOperate && (
          <>
            <Button leftSection={<IconCheck size={16} />} loading={busy} onClick={askAssociate}>
              Associate
            </Button>
            <Button color="red" variant="light" leftSection={<IconTrash size={16} />} disabled={busy} onClick={askRemove}>
              Remove
            </Button>
          </>
        )}
      </SelectionBar>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </>
  );
}
