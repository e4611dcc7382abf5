import { Anchor, Group, NativeSelect, Paper, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { IconSearch } from "@tabler/icons-react";
import { useState } from "react";
import { Link } from "react-router";
import { api } from "../api/client.ts";
import type { Endpoint } from "../api/types.ts";
import { CloneBadge } from "../components/CloneFlag.tsx";
import { HeartbeatBadge } from "../components/HeartbeatBadge.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { formatAgo, formatDateTime, formatExpiry } from "../format.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { EmptyTableRow } from "../components/EmptyTableRow.tsx";

type StatusFilter = "all" | "online" | "offline";

const statusOptions: { value: StatusFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "online", label: "Online" },
  { value: "offline", label: "Offline" },
];

function statusOf(value: string): StatusFilter {
  return value === "online" || value === "offline" ? value : "all";
}

// Devices that checked in but wait for association are the Waiting Room's; an environment
// created in the UI that no device used yet has no Edge ID and belongs here.
function isListedOnHome(environment: Endpoint): boolean {
  return environment.UserTrusted || environment.EdgeID === "";
}

function matchesSearch(environment: Endpoint, search: string): boolean {
  const needle = search.trim().toLowerCase();
  if (needle === "") return true;
  return [environment.Name, environment.EdgeID, environment.Pier.Hostname, environment.Pier.Platform].some((value) => value.toLowerCase().includes(needle));
}

function platformOf(environment: Endpoint): string {
  const { Platform, OS, Arch } = environment.Pier;
  const system = OS && Arch ? `${OS}/${Arch}` : OS;
  return [Platform, system].filter(Boolean).join(" · ") || "—";
}

/** `/`: every environment with its heartbeat, platform, agent, last check-in and certificate expiry. */
export function HomeScreen() {
  const environments = usePolling((signal) => api<Endpoint[]>("GET", "/api/endpoints", { signal }), 5000);
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState<StatusFilter>("all");

  const listed = (environments.data ?? []).filter(isListedOnHome);
  const shown = listed.filter((e) => matchesSearch(e, search) && (status === "all" || e.Heartbeat === (status === "online")));

  return (
    <>
      <PageHeader title="Environments" description="The devices managed by this server. An environment is online while its agent checks in on time." />
      <LoadError message={environments.error} />
      <Group mb="md" align="flex-end">
        <TextInput label="Search" placeholder="Name, Edge ID, hostname or platform" leftSection={<IconSearch size={16} />} value={search} onChange={(event) => setSearch(event.currentTarget.value)} w={340} />
        <NativeSelect label="Status" data={statusOptions} value={status} onChange={(event) => setStatus(statusOf(event.currentTarget.value))} w={160} />
      </Group>
      {environments.loading && !environments.data ? (
        <PageLoader />
      ) : (
        <Paper withBorder radius="md">
          <Table striped highlightOnHover verticalSpacing="sm" aria-label="Environments">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Heartbeat</Table.Th>
                <Table.Th>Platform</Table.Th>
                <Table.Th>Agent version</Table.Th>
                <Table.Th>Last check-in</Table.Th>
                <Table.Th>Client certificate expires</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((environment) => (
                <Table.Tr key={environment.Id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/environments/${environment.Id}`} fw={500}>
                      {environment.Name}
                    </Anchor>
                    <CloneBadge clone={environment.Pier.Clone} />
                    {environment.EdgeID === "" && (
                      <Text size="xs" c="dimmed">
                        no device has used its key yet
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <HeartbeatBadge alive={environment.Heartbeat} />
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
                <EmptyTableRow columns={6}>{listed.length === 0 ? "No environment yet: add one, or associate a device from the Waiting Room." : "No environment matches the search and status filter."}</EmptyTableRow>
              )}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </>
  );
}
