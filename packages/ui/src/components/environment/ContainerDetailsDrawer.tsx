import { ActionIcon, Alert, Badge, Button, Drawer, Group, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconEye, IconEyeOff } from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { api, messageOf } from "../../api/client.ts";
import { type ContainerInspect, type ContainerStatsAnswer, containerStats, envEntries } from "../../api/container-details.ts";
import { formatBytes, formatDateTime } from "../../format.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { dockerPath } from "./docker-source.ts";

/** The container whose details are shown. */
export interface DetailsTarget {
  id: string;
  name: string;
}

/** Docker's container name rules (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), with the form's limit. */
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <Stack gap={0} aria-label={label} role="group">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={600} data-stat={label}>
        {value}
      </Text>
    </Stack>
  );
}

function StatsPanel({ environmentId, id }: { environmentId: number; id: string }) {
  // Docker takes two samples a second apart to answer stream=false: one poll at a time.
  const stats = usePolling((signal) => api<ContainerStatsAnswer>("GET", dockerPath(environmentId, `containers/${encodeURIComponent(id)}/stats?stream=false`), { signal }).then(containerStats), 3000, id);
  const sample = stats.data;
  const bytes = (value: number | undefined) => (value === undefined ? "—" : formatBytes(value));
  return (
    <section aria-label="Live stats">
      <Group justify="space-between" mb={4}>
        <Title order={3} size="h5">Live stats</Title>
        <Text size="xs" c="dimmed" data-testid="stats-read">
          {sample ? `sampled at ${new Date(sample.read).toLocaleTimeString("en-GB")}` : stats.loading ? "sampling…" : ""}
        </Text>
      </Group>
      {stats.error && (
        <Alert color="red" role="alert" mb="xs">
          {stats.error}
        </Alert>
      )}
      <SimpleGrid cols={4}>
        <Stat label="CPU" value={sample?.cpuPercent === undefined ? "—" : `${sample.cpuPercent.toFixed(2)} %`} />
        <Stat label="Memory" value={sample?.memoryBytes === undefined ? "—" : `${bytes(sample.memoryBytes)}${sample.memoryLimitBytes ? ` of ${bytes(sample.memoryLimitBytes)}` : ""}`} />
        <Stat label="Network in" value={bytes(sample?.rxBytes)} />
        <Stat label="Network out" value={bytes(sample?.txBytes)} />
      </SimpleGrid>
    </section>
  );
}

function KeyValues({ label, rows }: { label: string; rows: [string, ReactNode][] }) {
  return (
    <Table aria-label={label} withRowBorders={false} verticalSpacing={2}>
      <Table.Tbody>
        {rows.map(([key, value]) => (
          <Table.Tr key={key}>
            <Table.Th w={160} style={{ fontWeight: 500, verticalAlign: "top" }}>
              {key}
            </Table.Th>
            <Table.Td style={{ wordBreak: "break-all" }}>{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function EnvTable({ env }: { env: string[] | null }) {
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(new Set());
  const entries = envEntries(env);
  if (entries.length === 0) return <Text size="sm">No variable.</Text>;
  return (
    <Table aria-label="Environment variables" verticalSpacing={2}>
      <Table.Tbody>
        {entries.map((entry) => {
          const shown = !entry.secret || revealed.has(entry.name);
          return (
            <Table.Tr key={entry.name}>
              <Table.Th w={220} style={{ fontWeight: 500, wordBreak: "break-all" }}>
                {entry.name}
              </Table.Th>
              <Table.Td style={{ wordBreak: "break-all", fontFamily: "monospace" }}>{shown ? entry.value : "••••••••"}</Table.Td>
              <Table.Td w={40}>
                {entry.secret && (
                  <ActionIcon
                    variant="subtle"
                    color="gray"
                    aria-label={`${shown ? "Hide" : "Reveal"} ${entry.name}`}
                    onClick={() =>
                      setRevealed((current) => {
                        const next = new Set(current);
                        if (!next.delete(entry.name)) next.add(entry.name);
                        return next;
                      })
                    }
                  >
                    {shown ? <IconEyeOff size={16} /> : <IconEye size={16} />}
                  </ActionIcon>
                )}
              </Table.Td>
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}

function ports(inspect: ContainerInspect): string {
  const bindings = Object.entries(inspect.HostConfig.PortBindings ?? {}).flatMap(([port, hosts]) => (hosts ?? []).map((host) => `${host.HostIp ? `${host.HostIp}:` : ""}${host.HostPort} → ${port}`));
  return bindings.length === 0 ? "none published" : bindings.join(", ");
}

function Actions({ environmentId, inspect, onChanged }: { environmentId: number; inspect: ContainerInspect; onChanged: () => Promise<void> }) {
  const [busy, setBusy] = useState<string>();
  const [name, setName] = useState(inspect.Name.replace(/^\//, ""));
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const current = inspect.Name.replace(/^\//, "");
  const path = (action: string) => dockerPath(environmentId, `containers/${encodeURIComponent(inspect.Id)}/${action}`);
  async function act(label: string, action: string, done: string) {
    setBusy(label);
    try {
      await api("POST", path(action));
      notifications.show({ color: "green", message: done });
    } catch (failure) {
      notifications.show({ color: "red", title: `Could not ${label.toLowerCase()} ${current}`, message: messageOf(failure) });
    } finally {
      setBusy(undefined);
      await onChanged();
    }
  }
  const nameError = name !== "" && !namePattern.test(name) ? "Letters, digits and _ . - only, starting with a letter or digit; at most 128." : undefined;
  return (
    <Group align="flex-end" gap="sm">
      {inspect.State.Paused ? (
        <Button variant="light" loading={busy === "Unpause"} onClick={() => void act("Unpause", "unpause", `${current} unpaused`)}>
          Unpause
        </Button>
      ) : (
        <Button variant="light" disabled={!inspect.State.Running} loading={busy === "Pause"} onClick={() => void act("Pause", "pause", `${current} paused`)}>
          Pause
        </Button>
      )}
      <Button
        variant="light"
        color="red"
        disabled={!inspect.State.Running}
        loading={busy === "Kill"}
        onClick={() => setConfirm({ title: `Kill ${current}?`, message: "Its processes get SIGKILL at once, without the chance to stop cleanly.", confirmLabel: "Kill container", onConfirm: () => act("Kill", "kill", `${current} killed`) })}
      >
        Kill
      </Button>
      <TextInput label="Name" value={name} onChange={(event) => setName(event.currentTarget.value)} error={nameError} maxLength={128} w={240} />
      <Button variant="default" disabled={name === current || name === "" || nameError !== undefined} loading={busy === "Rename"} onClick={() => void act("Rename", `rename?name=${encodeURIComponent(name)}`, `${current} renamed to ${name}`)}>
        Rename
      </Button>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Group>
  );
}

function DetailsView({ environmentId, target, onChanged }: { environmentId: number; target: DetailsTarget; onChanged: () => Promise<void> }) {
  const inspect = usePolling((signal) => api<ContainerInspect>("GET", dockerPath(environmentId, `containers/${encodeURIComponent(target.id)}/json`), { signal }), 0, target.id);
  const data = inspect.data;
  const changed = async () => {
    await inspect.refresh();
    await onChanged();
  };
  if (inspect.error) {
    return (
      <Alert color="red" role="alert">
        {inspect.error}
      </Alert>
    );
  }
  if (!data) return <Text size="sm">Loading…</Text>;
  const networks = Object.entries(data.NetworkSettings.Networks ?? {});
  return (
    <Stack gap="md">
      <Group gap="xs">
        <Badge variant="light" color={data.State.Running ? (data.State.Paused ? "yellow" : "green") : "red"} data-testid="details-state">
          {data.State.Status}
        </Badge>
        <Text size="xs" c="dimmed">
          {data.Id.slice(0, 12)} · created {formatDateTime(data.Created)}
        </Text>
      </Group>
      <Actions key={data.Name} environmentId={environmentId} inspect={data} onChanged={changed} />
      {data.State.Running && !data.State.Paused && <StatsPanel environmentId={environmentId} id={data.Id} />}
      <section>
        <Title order={3} size="h5">Configuration</Title>
        <KeyValues
          label="Configuration"
          rows={[
            ["Image", data.Config.Image],
            ["Command", JSON.stringify(data.Config.Cmd ?? [])],
            ["Entrypoint", JSON.stringify(data.Config.Entrypoint ?? [])],
            ["Working directory", data.Config.WorkingDir || "/"],
            ["User", data.Config.User || "the image's"],
            ["TTY", data.Config.Tty ? "yes" : "no"],
            ["Restart policy", data.HostConfig.RestartPolicy?.Name || "no"],
            ["Ports", ports(data)],
          ]}
        />
      </section>
      <section>
        <Title order={3} size="h5">Environment</Title>
        <EnvTable env={data.Config.Env} />
      </section>
      <section>
        <Title order={3} size="h5">Mounts</Title>
        {data.Mounts.length === 0 ? <Text size="sm">No mount.</Text> : <KeyValues label="Mounts" rows={data.Mounts.map((mount) => [mount.Destination, `${mount.Type} ${mount.Name ?? mount.Source}${mount.RW ? "" : " (read-only)"}`])} />}
      </section>
      <section>
        <Title order={3} size="h5">Networks</Title>
        {networks.length === 0 ? <Text size="sm">No network.</Text> : <KeyValues label="Networks" rows={networks.map(([name, network]) => [name, `${network.IPAddress || "no address"}${network.Gateway ? ` via ${network.Gateway}` : ""}`])} />}
      </section>
    </Stack>
  );
}

/** A drawer with a container's inspect (config, env masked, mounts, networks), live stats, and pause, kill, rename. */
export function ContainerDetailsDrawer({ environmentId, target, onClose, onChanged }: { environmentId: number; target: DetailsTarget | undefined; onClose: () => void; onChanged: () => Promise<void> }) {
  return (
    <Drawer opened={target !== undefined} onClose={onClose} position="right" size="xl" title={target ? `Container ${target.name}` : ""} styles={{ title: { fontWeight: 600 } }}>
      {target && <DetailsView key={target.id} environmentId={environmentId} target={target} onChanged={onChanged} />}
    </Drawer>
  );
}
