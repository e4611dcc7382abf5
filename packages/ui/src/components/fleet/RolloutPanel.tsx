import { Alert, Badge, Button, Group, Progress, Text } from "@mantine/core";
import { useState } from "react";
import { messageOf } from "../../api/client.ts";
import { edgeStacksApi } from "../../api/fleet.ts";
import type { EdgeStackRollout } from "../../api/fleet-types.ts";
import { formatDateTime } from "../../format.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";

const stateColors: Record<EdgeStackRollout["State"], string> = { running: "blue", paused: "yellow", aborted: "red", completed: "green" };

/**
 * A stack's staged rollout: its state, devices released of total (a bar), succeeded and failed,
 * when the next batch goes, why it paused; Pause, Resume and a confirmed Abort.
 *
 * @example
 * {stack.Pier?.Rollout && <RolloutPanel stackId={stack.Id} rollout={stack.Pier.Rollout} onChanged={refresh} />}
 */
export function RolloutPanel({ stackId, rollout, onChanged }: { stackId: number; rollout: EdgeStackRollout; onChanged: () => Promise<void> }) {
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState<ConfirmRequest>();
  const percent = rollout.Total > 0 ? Math.round((rollout.Released / rollout.Total) * 100) : 0;
  const batch = rollout.BatchSize !== null ? `${rollout.BatchSize} per batch` : `${rollout.BatchPercent ?? 0} % per batch`;

  async function act(action: "pause" | "resume" | "abort") {
    setError(undefined);
    try {
      await edgeStacksApi.rollout(stackId, action);
      await onChanged();
    } catch (failure) {
      setError(messageOf(failure));
    }
  }

  return (
    <Alert color={stateColors[rollout.State]} variant="light" mb="md" title={`Rollout of v${rollout.Version}`} role="region" aria-label="Rollout">
      <Group gap="md" mb="xs">
        <Badge color={stateColors[rollout.State]} tt="none">
          {rollout.State}
        </Badge>
        <Text size="sm">
          {rollout.Released} of {rollout.Total} devices released · {batch}, {rollout.WaitSeconds} s between batches, pauses when more than {rollout.FailureThreshold} fail · devices not released keep v{rollout.PreviousVersion}
        </Text>
      </Group>
      <Progress value={percent} aria-label={`${rollout.Released} of ${rollout.Total} devices released`} mb="xs" />
      <Text size="sm">
        {rollout.Succeeded !== undefined && `${rollout.Succeeded} running v${rollout.Version}`}
        {rollout.Failed !== undefined && ` · ${rollout.Failed} failed`}
        {rollout.NextBatchAt ? ` · next batch ${formatDateTime(rollout.NextBatchAt * 1000)}` : ""} · started {formatDateTime(rollout.StartedDate * 1000)}
      </Text>
      {rollout.Reason && (
        <Text size="sm" mt={4} style={{ whiteSpace: "pre-wrap" }}>
          {rollout.Reason}
        </Text>
      )}
      {error && (
        <Text size="sm" c="red" mt={4} role="alert">
          {error}
        </Text>
      )}
      {(rollout.State === "running" || rollout.State === "paused") && (
        <Group gap="xs" mt="sm">
          {rollout.State === "running" ? (
            <Button size="xs" variant="default" onClick={() => void act("pause")}>
              Pause rollout
            </Button>
          ) : (
            <Button size="xs" variant="default" onClick={() => void act("resume")}>
              Resume rollout
            </Button>
          )}
          <Button
            size="xs"
            color="red"
            variant="light"
            onClick={() =>
              setPending({
                title: `Abort the rollout of v${rollout.Version}?`,
                message: `The rollout stops and every device, released or not, goes back to v${rollout.PreviousVersion}. To go forward again, save a new version.`,
                confirmLabel: "Abort rollout",
                onConfirm: () => act("abort"),
              })
            }
          >
            Abort
          </Button>
        </Group>
      )}
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </Alert>
  );
}
