import { ActionIcon, Alert, Badge, Button, Drawer, Group, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconEye, IconEyeOff } from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import { type ContainerInspect, type ContainerStatsAnswer, containerStats, envEntries } from "../../api/container-details.ts";
import { formatBytes, formatDateTime } from "../../format.ts";
import { currentLocale } from "../../i18n/index.ts";
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

// A sample's time with its seconds (samples are 3 s apart): 14:03:07 in every language, as the locale writes it.
const sampleTime = (read: string) => new Date(read).toLocaleTimeString(currentLocale() === "en" ? "en-GB" : currentLocale());

function StatsPanel({ environmentId, id }: { environmentId: number; id: string }) {
  const { t } = useTranslation("docker");
  // Docker takes two samples a second apart to answer stream=false: one poll at a time.
  const stats = usePolling((signal) => api<ContainerStatsAnswer>("GET", dockerPath(environmentId, `containers/${encodeURIComponent(id)}/stats?stream=false`), { signal }).then(containerStats), 3000, id);
  const sample = stats.data;
  const bytes = (value: number | undefined) => (value === undefined ? "—" : formatBytes(value));
  return (
    <section aria-label={t("details.stats.title")}>
      <Group justify="space-between" mb={4}>
        <Title order={3} size="h5">{t("details.stats.title")}</Title>
        <Text size="xs" c="dimmed" data-testid="stats-read">
          {sample ? t("details.stats.sampledAt", { time: sampleTime(sample.read) }) : stats.loading ? t("details.stats.sampling") : ""}
        </Text>
      </Group>
      {stats.error && (
        <Alert color="red" role="alert" mb="xs">
          {stats.error}
        </Alert>
      )}
      <SimpleGrid cols={4}>
        <Stat label={t("details.stats.cpu")} value={sample?.cpuPercent === undefined ? "—" : `${sample.cpuPercent.toFixed(2)} %`} />
        <Stat label={t("details.stats.memory")} value={sample?.memoryBytes === undefined ? "—" : sample.memoryLimitBytes ? t("details.stats.memoryOf", { used: bytes(sample.memoryBytes), limit: bytes(sample.memoryLimitBytes) }) : bytes(sample.memoryBytes)} />
        <Stat label={t("details.stats.networkIn")} value={bytes(sample?.rxBytes)} />
        <Stat label={t("details.stats.networkOut")} value={bytes(sample?.txBytes)} />
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
  const { t } = useTranslation("docker");
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(new Set());
  const entries = envEntries(env);
  if (entries.length === 0) return <Text size="sm">{t("details.env.none")}</Text>;
  return (
    <Table aria-label={t("details.env.label")} verticalSpacing={2}>
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
                    aria-label={shown ? t("details.env.hide", { name: entry.name }) : t("details.env.reveal", { name: entry.name })}
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

/** The published ports (`0.0.0.0:8080 → 80/tcp`), or `undefined` when none is. */
function ports(inspect: ContainerInspect): string | undefined {
  const bindings = Object.entries(inspect.HostConfig.PortBindings ?? {}).flatMap(([port, hosts]) => (hosts ?? []).map((host) => `${host.HostIp ? `${host.HostIp}:` : ""}${host.HostPort} → ${port}`));
  return bindings.length === 0 ? undefined : bindings.join(", ");
}

type ContainerAction = "pause" | "unpause" | "kill" | "rename";

function Actions({ environmentId, inspect, onChanged }: { environmentId: number; inspect: ContainerInspect; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("docker");
  const [busy, setBusy] = useState<ContainerAction>();
  const [name, setName] = useState(inspect.Name.replace(/^\//, ""));
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const current = inspect.Name.replace(/^\//, "");
  const path = (action: string) => dockerPath(environmentId, `containers/${encodeURIComponent(inspect.Id)}/${action}`);
  async function act(kind: ContainerAction, action: string, done: string) {
    setBusy(kind);
    try {
      await api("POST", path(action));
      notifications.show({ color: "green", message: done });
    } catch (failure) {
      notifications.show({ color: "red", title: t(`details.failed.${kind}`, { name: current }), message: messageOf(failure) });
    } finally {
      setBusy(undefined);
      await onChanged();
    }
  }
  const nameError = name !== "" && !namePattern.test(name) ? t("details.actions.nameRule") : undefined;
  return (
    <Group align="flex-end" gap="sm">
      {inspect.State.Paused ? (
        <Button variant="light" loading={busy === "unpause"} onClick={() => void act("unpause", "unpause", t("details.done.unpause", { name: current }))}>
          {t("details.actions.unpause")}
        </Button>
      ) : (
        <Button variant="light" disabled={!inspect.State.Running} loading={busy === "pause"} onClick={() => void act("pause", "pause", t("details.done.pause", { name: current }))}>
          {t("details.actions.pause")}
        </Button>
      )}
      <Button
        variant="light"
        color="red"
        disabled={!inspect.State.Running}
        loading={busy === "kill"}
        onClick={() => setConfirm({ title: t("details.killTitle", { name: current }), message: t("details.killMessage"), confirmLabel: t("details.killConfirm"), onConfirm: () => act("kill", "kill", t("details.done.kill", { name: current })) })}
      >
        {t("details.actions.kill")}
      </Button>
      <TextInput label={t("details.actions.name")} value={name} onChange={(event) => setName(event.currentTarget.value)} error={nameError} maxLength={128} w={240} />
      <Button variant="default" disabled={name === current || name === "" || nameError !== undefined} loading={busy === "rename"} onClick={() => void act("rename", `rename?name=${encodeURIComponent(name)}`, t("details.done.rename", { name: current, newName: name }))}>
        {t("details.actions.rename")}
      </Button>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Group>
  );
}

function DetailsView({ environmentId, target, onChanged }: { environmentId: number; target: DetailsTarget; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("docker");
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
  if (!data) return <Text size="sm">{t("details.loading")}</Text>;
  const networks = Object.entries(data.NetworkSettings.Networks ?? {});
  return (
    <Stack gap="md">
      <Group gap="xs">
        <Badge variant="light" color={data.State.Running ? (data.State.Paused ? "yellow" : "green") : "red"} data-testid="details-state">
          {data.State.Status}
        </Badge>
        <Text size="xs" c="dimmed">
          {t("details.created", { id: data.Id.slice(0, 12), date: formatDateTime(data.Created) })}
        </Text>
      </Group>
      <Actions key={data.Name} environmentId={environmentId} inspect={data} onChanged={changed} />
      {data.State.Running && !data.State.Paused && <StatsPanel environmentId={environmentId} id={data.Id} />}
      <section>
        <Title order={3} size="h5">{t("details.config.title")}</Title>
        <KeyValues
          label={t("details.config.title")}
          rows={[
            [t("details.config.image"), data.Config.Image],
            [t("details.config.command"), JSON.stringify(data.Config.Cmd ?? [])],
            [t("details.config.entrypoint"), JSON.stringify(data.Config.Entrypoint ?? [])],
            [t("details.config.workingDir"), data.Config.WorkingDir || "/"],
            [t("details.config.user"), data.Config.User || t("details.config.imageUser")],
            [t("details.config.tty"), data.Config.Tty ? t("details.config.yes") : t("details.config.no")],
            // Docker's policy name ("no", "always"…), as Docker writes it.
            [t("details.config.restartPolicy"), data.HostConfig.RestartPolicy?.Name || "no"],
            [t("details.config.ports"), ports(data) ?? t("details.config.noPorts")],
          ]}
        />
      </section>
      <section>
        <Title order={3} size="h5">{t("details.env.title")}</Title>
        <EnvTable env={data.Config.Env} />
      </section>
      <section>
        <Title order={3} size="h5">{t("details.mounts.title")}</Title>
        {data.Mounts.length === 0 ? (
          <Text size="sm">{t("details.mounts.none")}</Text>
        ) : (
          <KeyValues
            label={t("details.mounts.title")}
            rows={data.Mounts.map((mount) => {
              // Docker's mount type and source (`volume data`, `bind /srv`), as Docker names them.
              const source = `${mount.Type} ${mount.Name ?? mount.Source}`;
              return [mount.Destination, mount.RW ? source : t("details.mounts.readOnly", { mount: source })];
            })}
          />
        )}
      </section>
      <section>
        <Title order={3} size="h5">{t("details.networks.title")}</Title>
        {networks.length === 0 ? (
          <Text size="sm">{t("details.networks.none")}</Text>
        ) : (
          <KeyValues
            label={t("details.networks.title")}
            rows={networks.map(([name, network]) => {
              const address = network.IPAddress || t("details.networks.noAddress");
              return [name, network.Gateway ? t("details.networks.via", { address, gateway: network.Gateway }) : address];
            })}
          />
        )}
      </section>
    </Stack>
  );
}

/** A drawer with a container's inspect (config, env masked, mounts, networks), live stats, and pause, kill, rename. */
export function ContainerDetailsDrawer({ environmentId, target, onClose, onChanged }: { environmentId: number; target: DetailsTarget | undefined; onClose: () => void; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("docker");
  return (
    <Drawer opened={target !== undefined} onClose={onClose} position="right" size="xl" title={target ? t("details.title", { name: target.name }) : ""} styles={{ title: { fontWeight: 600 } }}>
      {target && <DetailsView key={target.id} environmentId={environmentId} target={target} onChanged={onChanged} />}
    </Drawer>
  );
}
