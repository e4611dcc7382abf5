import { ActionIcon, Badge, Box, Button, Group, Text, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFileText, IconInfoCircle, IconPlus, IconPlayerPlay, IconTerminal2, IconPlayerStop, IconRefresh, IconTrash } from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, messageOf } from "../../api/client.ts";
import type { DockerContainer } from "../../api/types.ts";
import { formatAgo, shortId } from "../../format.ts";
import { useCan } from "../../hooks/use-current-user.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { type DockerSource, dockerPath, useDockerList } from "./docker-source.ts";
import { ConsoleDrawer, type ConsoleTarget } from "./ConsoleDrawer.tsx";
import { ContainerDetailsDrawer, type DetailsTarget } from "./ContainerDetailsDrawer.tsx";
import { CreateContainerModal } from "./CreateContainerModal.tsx";
import { LogsDrawer, type LogsTarget } from "./LogsDrawer.tsx";
import { type Column, ResourceTable } from "./ResourceTable.tsx";

type Action = "start" | "stop" | "restart" | "remove";

const stateColors: Record<string, string> = { running: "green", exited: "red", dead: "red", paused: "yellow", restarting: "orange", created: "gray", removing: "gray" };

/** A container's name as people type it (Docker reports "/name"). */
export function containerName(container: DockerContainer): string {
  return (container.Names[0] ?? shortId(container.Id)).replace(/^\//, "");
}

/** The Containers tab: state, and start/stop/restart/remove/logs through the tunnel. */
export function ContainersTab({ source }: { source: DockerSource }) {
  const { t } = useTranslation("docker");
  const containers = useDockerList(source, "containers");
  const [pending, setPending] = useState<ReadonlyMap<string, Action>>(new Map());
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [logs, setLogs] = useState<LogsTarget>();
  const [consoleTarget, setConsoleTarget] = useState<ConsoleTarget>();
  const [details, setDetails] = useState<DetailsTarget>();
  const [creating, setCreating] = useState(false);
  // Helpdesk reads and follows logs; acting on containers (and their console) needs Operator.
  const canOperate = useCan("operate");

  async function run(container: DockerContainer, action: Action) {
    const name = containerName(container);
    setPending((current) => new Map(current).set(container.Id, action));
    try {
      const id = encodeURIComponent(container.Id);
      if (action === "remove") await api("DELETE", dockerPath(source.environmentId, `containers/${id}?force=1`));
      else await api("POST", dockerPath(source.environmentId, `containers/${id}/${action}`));
      notifications.show({ color: "green", message: t(`containers.done.${action}`, { name }) });
    } catch (failure) {
      notifications.show({ color: "red", title: t(`containers.failed.${action}`, { name }), message: messageOf(failure) });
    } finally {
      setPending((current) => {
        const next = new Map(current);
        next.delete(container.Id);
        return next;
      });
      await containers.refresh();
    }
  }

  function actionButton(container: DockerContainer, action: Action, icon: ReactNode, enabled: boolean, color: string) {
    const name = containerName(container);
    const label = t(`containers.actions.${action}`);
    const busy = pending.get(container.Id);
    const onClick =
      action === "remove"
        ? () => setConfirm({ title: t("containers.removeTitle", { name }), message: t("containers.removeMessage"), confirmLabel: t("containers.removeConfirm"), onConfirm: () => run(container, "remove") })
        : () => void run(container, action);
    return (
      <Tooltip label={canOperate ? label : t("containers.needsOperator", { action: label })} withArrow openDelay={400}>
        <ActionIcon variant="subtle" color={color} aria-label={t(`containers.actionOn.${action}`, { name })} disabled={!canOperate || !source.live || !enabled || busy !== undefined} loading={busy === action} onClick={onClick}>
          {icon}
        </ActionIcon>
      </Tooltip>
    );
  }

  const columns: Column<DockerContainer>[] = [
    { header: t("containers.columns.name"), cell: (c) => <Text fw={500} size="sm">{containerName(c)}</Text> },
    { header: t("containers.columns.image"), cell: (c) => <Text size="sm" style={{ wordBreak: "break-all" }}>{c.Image}</Text> },
    {
      header: t("containers.columns.state"),
      cell: (c) => (
        // Docker's status line ("Exited (0) 3 s ago") goes in the tooltip: the badge is the state word alone.
        <Tooltip label={c.Status} withArrow disabled={c.Status === ""}>
          <Badge color={stateColors[c.State] ?? "gray"} variant="light" styles={{ label: { textTransform: "none" } }}>
            {c.State}
          </Badge>
        </Tooltip>
      ),
    },
    { header: t("containers.columns.created"), cell: (c) => <Text size="sm">{formatAgo(c.Created)}</Text> },
    {
      header: t("table.actions"),
      width: 230,
      cell: (c) => {
        const running = c.State === "running" || c.State === "restarting" || c.State === "paused";
        // Start only when stopped, Stop and Restart only when running: a test (or a screen
        // reader user) asking for "Start x" must not also find "Restart x".
        const startOrStop = running ? actionButton(c, "stop", <IconPlayerStop size={16} />, true, "orange") : actionButton(c, "start", <IconPlayerPlay size={16} />, true, "green");
        const restart = running ? actionButton(c, "restart", <IconRefresh size={16} />, true, "blue") : <Box w={28} aria-hidden />;
        const remove = actionButton(c, "remove", <IconTrash size={16} />, true, "red");
        return (
          <Group gap={2} wrap="nowrap">
            {startOrStop}
            {restart}
            {remove}
            <Tooltip label={t("containers.actions.logs")} withArrow openDelay={400}>
              <ActionIcon variant="subtle" color="gray" aria-label={t("containers.actionOn.logs", { name: containerName(c) })} disabled={!source.live} onClick={() => setLogs({ id: c.Id, name: containerName(c) })}>
                <IconFileText size={16} />
              </ActionIcon>
            </Tooltip>
            <Tooltip label={t("containers.actions.console")} withArrow openDelay={400}>
              <ActionIcon variant="subtle" color="gray" aria-label={t("containers.actionOn.console", { name: containerName(c) })} disabled={!canOperate || !source.live || c.State !== "running"} onClick={() => setConsoleTarget({ id: c.Id, name: containerName(c) })}>
                <IconTerminal2 size={16} />
              </ActionIcon>
            </Tooltip>
            <Tooltip label={t("containers.actions.details")} withArrow openDelay={400}>
              <ActionIcon variant="subtle" color="gray" aria-label={t("containers.actionOn.details", { name: containerName(c) })} disabled={!source.live} onClick={() => setDetails({ id: c.Id, name: containerName(c) })}>
                <IconInfoCircle size={16} />
              </ActionIcon>
            </Tooltip>
          </Group>
        );
      },
    },
  ];

  return (
    <>
      <Group justify="flex-end" mb="xs">
        <Button size="xs" variant="light" leftSection={<IconPlus size={14} />} disabled={!canOperate || !source.live} onClick={() => setCreating(true)}>
          {t("containers.create")}
        </Button>
      </Group>
      <ResourceTable label={t("containers.label")} columns={columns} rows={containers.data} rowKey={(c) => c.Id} empty={t("containers.empty")} error={containers.error} loading={containers.loading} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
      <LogsDrawer environmentId={source.environmentId} target={logs} onClose={() => setLogs(undefined)} />
      <ConsoleDrawer environmentId={source.environmentId} target={consoleTarget} onClose={() => setConsoleTarget(undefined)} />
      <ContainerDetailsDrawer environmentId={source.environmentId} target={details} onClose={() => setDetails(undefined)} onChanged={containers.refresh} />
      <CreateContainerModal environmentId={source.environmentId} opened={creating} onClose={() => setCreating(false)} onCreated={containers.refresh} />
    </>
  );
}
