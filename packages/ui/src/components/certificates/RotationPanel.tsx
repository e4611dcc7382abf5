import { Alert, Badge, Button, Code, Group, Paper, Progress, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, api, messageOf } from "../../api/client.ts";
import type { RotationCa, RotationState } from "../../api/types.ts";
import { formatDateTime, formatNumber } from "../../format.ts";
import type { Polled } from "../../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";

// The phases the server names, by their key in `pki:rotation.phases`; another is shown as sent.
const phaseKeys = { standby: "standby", rotating: "rotating", rolling_back: "rollingBack" } as const;

function CaLine({ label, ca }: { label: string; ca: RotationCa | null }) {
  const { t } = useTranslation("pki");
  if (!ca) return null;
  return (
    <Text size="sm">
      <Text span c="dimmed">
        {t("rotation.labelled", { label })}{" "}
      </Text>
      <span data-untranslated>{ca.Subject}</span>{" "}
      <Tooltip label={ca.Fingerprint} maw={360} multiline>
        <Code>{ca.Fingerprint.slice(0, 12)}</Code>
      </Tooltip>{" "}
      <Text span c="dimmed" size="xs">
        {t("rotation.until", { date: formatDateTime(ca.NotAfter) })}
      </Text>
    </Text>
  );
}

/**
 * The built-in CA's rotation (docs/identity.md, "CA rotation"): its phase, how many devices
 * moved, the stragglers, and Start / Finish / Roll back, each confirmed. A refused finish (online
 * devices not moved) offers to force it.
 */
export function RotationPanel({ rotation }: { rotation: Polled<RotationState | null> }) {
  const { t } = useTranslation("pki");
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [refusal, setRefusal] = useState<{ text: string; forceable: boolean }>();
  const state = rotation.data;
  if (!state) return null;
  const active = state.Phase !== "standby";
  const percent = state.DevicesTotal === 0 ? 100 : Math.round((state.DevicesMoved / state.DevicesTotal) * 100);

  async function post(path: string, body: unknown, done: string) {
    setRefusal(undefined);
    try {
      await api("POST", path, { body });
      notifications.show({ color: "green", message: done });
    } catch (failure) {
      setRefusal({ text: messageOf(failure), forceable: path.endsWith("/finish") && failure instanceof ApiError && failure.status === 409 });
    } finally {
      await rotation.refresh();
    }
  }

  const ask = (request: ConfirmRequest) => setConfirm(request);

  return (
    <Paper withBorder radius="md" p="lg" aria-label={t("rotation.title")} component="section">
      <Group justify="space-between" align="flex-start">
        <div>
          <Group gap="xs">
            <Title order={2} size="h3">{t("rotation.title")}</Title>
            <Badge variant="light" color={active ? "orange" : "gray"} styles={{ label: { textTransform: "none" } }}>
              {state.Phase in phaseKeys ? t(`rotation.phases.${phaseKeys[state.Phase as keyof typeof phaseKeys]}`) : state.Phase}
            </Badge>
          </Group>
          <Text size="sm" c="dimmed">
            {t("rotation.description")}
          </Text>
        </div>
        <Group gap="xs">
          {!active && (
            <Button
              variant="light"
              onClick={() =>
                ask({
                  title: t("rotation.start.title"),
                  message: t("rotation.start.message"),
                  confirmLabel: t("rotation.start.action"),
                  onConfirm: () => post("/api/pki/rotation", {}, t("rotation.start.done")),
                })
              }
            >
              {t("rotation.start.action")}
            </Button>
          )}
          {active && (
            <>
              <Button
                onClick={() =>
                  ask({
                    title: t("rotation.finish.title"),
                    message: state.Phase === "rolling_back" ? t("rotation.finish.messageRollingBack") : t("rotation.finish.messageRotating"),
                    confirmLabel: t("rotation.finish.action"),
                    onConfirm: () => post("/api/pki/rotation/finish", {}, t("rotation.finish.done")),
                  })
                }
              >
                {t("rotation.finish.action")}
              </Button>
              {state.Phase === "rotating" && (
                <Button
                  variant="default"
                  onClick={() =>
                    ask({
                      title: t("rotation.rollBack.title"),
                      message: t("rotation.rollBack.message"),
                      confirmLabel: t("rotation.rollBack.action"),
                      onConfirm: () => post("/api/pki/rotation/rollback", {}, t("rotation.rollBack.done")),
                    })
                  }
                >
                  {t("rotation.rollBack.action")}
                </Button>
              )}
            </>
          )}
        </Group>
      </Group>
      <Stack gap={4} mt="sm">
        <CaLine label={active ? t("rotation.from") : t("rotation.caInForce")} ca={state.FromCa} />
        <CaLine label={t("rotation.to")} ca={state.ToCa} />
        {state.StartedAt && (
          <Text size="xs" c="dimmed">
            {state.WindowSeconds !== null ? t("rotation.startedWindow", { date: formatDateTime(state.StartedAt), seconds: formatNumber(state.WindowSeconds) }) : t("rotation.started", { date: formatDateTime(state.StartedAt) })}
          </Text>
        )}
      </Stack>
      {active && (
        <Stack gap={4} mt="md">
          <Text size="sm" fw={500}>
            {t("rotation.moved", { moved: formatNumber(state.DevicesMoved), total: formatNumber(state.DevicesTotal), online: formatNumber(state.DevicesOnline) })}
          </Text>
          <Progress value={percent} aria-label={t("rotation.movedLabel")} />
        </Stack>
      )}
      {refusal && (
        <Alert color="red" mt="md" role="alert" title={t("rotation.refused")}>
          <Text size="sm">{refusal.text}</Text>
          {active && refusal.forceable && (
            <Button
              mt="xs"
              size="xs"
              color="red"
              variant="light"
              onClick={() =>
                ask({
                  title: t("rotation.force.title"),
                  message: t("rotation.force.message"),
                  confirmLabel: t("rotation.force.action"),
                  onConfirm: () => post("/api/pki/rotation/finish", { Force: true }, t("rotation.force.done")),
                })
              }
            >
              {t("rotation.force.button")}
            </Button>
          )}
        </Alert>
      )}
      {active && state.Stragglers.length > 0 && (
        <Table mt="md" verticalSpacing={4} aria-label={t("rotation.stragglers.label")}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("rotation.stragglers.straggler")}</Table.Th>
              <Table.Th>{t("rotation.stragglers.online")}</Table.Th>
              <Table.Th>{t("rotation.stragglers.lastCheckIn")}</Table.Th>
              <Table.Th>{t("rotation.stragglers.certificate")}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {state.Stragglers.map((straggler) => (
              <Table.Tr key={straggler.Id}>
                <Table.Td data-untranslated>
                  {straggler.Name} <Text span size="xs" c="dimmed" ff="monospace">{straggler.EdgeID}</Text>
                </Table.Td>
                <Table.Td>{straggler.Online ? t("rotation.stragglers.isOnline") : t("rotation.stragglers.isOffline")}</Table.Td>
                <Table.Td>{formatDateTime(straggler.LastCheckIn)}</Table.Td>
                <Table.Td>
                  <Code>{straggler.Serial}</Code>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(undefined)} />
    </Paper>
  );
}
