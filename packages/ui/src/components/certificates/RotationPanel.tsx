import { Alert, Badge, Button, Code, Group, Paper, Progress, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";
import { ApiError, api, messageOf } from "../../api/client.ts";
import type { RotationCa, RotationState } from "../../api/types.ts";
import { formatDateTime } from "../../format.ts";
import type { Polled } from "../../hooks/use-polling.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";

const phaseText: Record<string, string> = { standby: "standby", rotating: "rotating to the new CA", rolling_back: "rolling back to the old CA" };

function CaLine({ label, ca }: { label: string; ca: RotationCa | null }) {
  if (!ca) return null;
  return (
    <Text size="sm">
      <Text span c="dimmed">
        {label}:{" "}
      </Text>
      {ca.Subject}{" "}
      <Tooltip label={ca.Fingerprint} maw={360} multiline>
        <Code>{ca.Fingerprint.slice(0, 12)}</Code>
      </Tooltip>{" "}
      <Text span c="dimmed" size="xs">
        until {formatDateTime(ca.NotAfter)}
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
    <Paper withBorder radius="md" p="lg" aria-label="CA rotation" component="section">
      <Group justify="space-between" align="flex-start">
        <div>
          <Group gap="xs">
            <Title order={2} size="h3">CA rotation</Title>
            <Badge variant="light" color={active ? "orange" : "gray"} styles={{ label: { textTransform: "none" } }}>
              {phaseText[state.Phase] ?? state.Phase}
            </Badge>
          </Group>
          <Text size="sm" c="dimmed">
            Replaces the built-in CA without a gap: devices renew under the new CA, spread over a window, and the old CA is dropped when you finish.
          </Text>
        </div>
        <Group gap="xs">
          {!active && (
            <Button
              variant="light"
              onClick={() =>
                ask({
                  title: "Start a CA rotation?",
                  message: "A new CA is created; both are trusted meanwhile. Every online device is told to renew under the new CA within 10 minutes, spread out. Finish when they have moved, or roll back.",
                  confirmLabel: "Start rotation",
                  onConfirm: () => post("/api/pki/rotation", {}, "CA rotation started"),
                })
              }
            >
              Start rotation
            </Button>
          )}
          {active && (
            <>
              <Button
                onClick={() =>
                  ask({
                    title: "Finish the rotation?",
                    message: state.Phase === "rolling_back" ? "The new CA is retired; the old CA stays." : "The old CA is retired and no longer trusted; the server certificate moves to the new CA (same key, so EDGE_KEY pins hold). Devices that have not moved must enroll again through the Waiting Room.",
                    confirmLabel: "Finish",
                    onConfirm: () => post("/api/pki/rotation/finish", {}, "Rotation finished"),
                  })
                }
              >
                Finish
              </Button>
              {state.Phase === "rotating" && (
                <Button
                  variant="default"
                  onClick={() =>
                    ask({
                      title: "Roll the rotation back?",
                      message: "The old CA issues again and devices that moved are told to renew under it.",
                      confirmLabel: "Roll back",
                      onConfirm: () => post("/api/pki/rotation/rollback", {}, "Rotation rolling back"),
                    })
                  }
                >
                  Roll back
                </Button>
              )}
            </>
          )}
        </Group>
      </Group>
      <Stack gap={4} mt="sm">
        <CaLine label={active ? "From" : "CA in force"} ca={state.FromCa} />
        <CaLine label="To" ca={state.ToCa} />
        {state.StartedAt && (
          <Text size="xs" c="dimmed">
            Started {formatDateTime(state.StartedAt)}
            {state.WindowSeconds !== null ? `, renewals spread over ${state.WindowSeconds} s` : ""}
          </Text>
        )}
      </Stack>
      {active && (
        <Stack gap={4} mt="md">
          <Text size="sm" fw={500}>
            {state.DevicesMoved} of {state.DevicesTotal} devices moved ({state.DevicesOnline} online)
          </Text>
          <Progress value={percent} aria-label="Devices moved" />
        </Stack>
      )}
      {refusal && (
        <Alert color="red" mt="md" role="alert" title="Refused">
          <Text size="sm">{refusal.text}</Text>
          {active && refusal.forceable && (
            <Button
              mt="xs"
              size="xs"
              color="red"
              variant="light"
              onClick={() =>
                ask({
                  title: "Force the finish?",
                  message: "Online devices that have not moved lose their session and must enroll again through the Waiting Room.",
                  confirmLabel: "Force finish",
                  onConfirm: () => post("/api/pki/rotation/finish", { Force: true }, "Rotation finished (forced)"),
                })
              }
            >
              Finish anyway
            </Button>
          )}
        </Alert>
      )}
      {active && state.Stragglers.length > 0 && (
        <Table mt="md" verticalSpacing={4} aria-label="Stragglers">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Straggler</Table.Th>
              <Table.Th>Online</Table.Th>
              <Table.Th>Last check-in</Table.Th>
              <Table.Th>Certificate</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {state.Stragglers.map((straggler) => (
              <Table.Tr key={straggler.Id}>
                <Table.Td>
                  {straggler.Name} <Text span size="xs" c="dimmed" ff="monospace">{straggler.EdgeID}</Text>
                </Table.Td>
                <Table.Td>{straggler.Online ? "online" : "offline"}</Table.Td>
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
