import { Alert, Badge, Button, Group, Progress, Text } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { messageOf } from "../../api/client.ts";
import { edgeStacksApi } from "../../api/fleet.ts";
import type { EdgeStackRollout } from "../../api/fleet-types.ts";
import { formatDateTime } from "../../format.ts";
import { ConfirmDialog, type ConfirmRequest } from "../ConfirmDialog.tsx";
import { useCan } from "../../hooks/use-current-user.ts";

const stateColors: Record<EdgeStackRollout["State"], string> = { running: "blue", paused: "yellow", aborted: "red", completed: "green" };

/**
 * A stack's staged rollout: its state, devices released of total (a bar), succeeded and failed,
 * when the next batch goes, why it paused; Pause, Resume and a confirmed Abort.
 *
 * @example
 * {stack.Pier?.Rollout && <RolloutPanel stackId={stack.Id} rollout={stack.Pier.Rollout} onChanged={refresh} />}
 */
export function RolloutPanel({ stackId, rollout, onChanged }: { stackId: number; rollout: EdgeStackRollout; onChanged: () => Promise<void> }) {
  const { t } = useTranslation("fleet");
  const canOperate = useCan("operate");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState<ConfirmRequest>();
  const percent = rollout.Total > 0 ? Math.round((rollout.Released / rollout.Total) * 100) : 0;
  const plan = { released: rollout.Released, total: rollout.Total, wait: rollout.WaitSeconds, threshold: rollout.FailureThreshold, previous: rollout.PreviousVersion };
  const summary = rollout.BatchSize !== null ? t("rollout.summaryBySize", { ...plan, size: rollout.BatchSize }) : t("rollout.summaryByPercent", { ...plan, percent: rollout.BatchPercent ?? 0 });
  // Separate facts, each a whole phrase, listed with " · ".
  const progress: string[] = [];
  if (rollout.Succeeded !== undefined) progress.push(t("rollout.succeeded", { count: rollout.Succeeded, version: rollout.Version }));
  if (rollout.Failed !== undefined) progress.push(t("rollout.failed", { count: rollout.Failed }));
  if (rollout.NextBatchAt) progress.push(t("rollout.nextBatch", { time: formatDateTime(rollout.NextBatchAt * 1000) }));
  progress.push(t("rollout.started", { time: formatDateTime(rollout.StartedDate * 1000) }));

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
    <Alert color={stateColors[rollout.State]} variant="light" mb="md" title={t("rollout.title", { version: rollout.Version })} role="region" aria-label={t("rollout.label")}>
      <Group gap="md" mb="xs">
        <Badge color={stateColors[rollout.State]} tt="none">
          {t(`rollout.states.${rollout.State}`)}
        </Badge>
        <Text size="sm">
          {summary}
        </Text>
      </Group>
      <Progress value={percent} aria-label={t("rollout.released", { released: rollout.Released, total: rollout.Total })} mb="xs" />
      <Text size="sm">
        {progress.join(" · ")}
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
      {canOperate && (rollout.State === "running" || rollout.State === "paused") && (
        <Group gap="xs" mt="sm">
          {rollout.State === "running" ? (
            <Button size="xs" variant="default" onClick={() => void act("pause")}>
              {t("rollout.pause")}
            </Button>
          ) : (
            <Button size="xs" variant="default" onClick={() => void act("resume")}>
              {t("rollout.resume")}
            </Button>
          )}
          <Button
            size="xs"
            color="red"
            variant="light"
            onClick={() =>
              setPending({
                title: t("rollout.abortTitle", { version: rollout.Version }),
                message: t("rollout.abortMessage", { previous: rollout.PreviousVersion }),
                confirmLabel: t("rollout.abortConfirm"),
                onConfirm: () => act("abort"),
              })
            }
          >
            {t("rollout.abort")}
          </Button>
        </Group>
      )}
      <ConfirmDialog request={pending} onClose={() => setPending(undefined)} />
    </Alert>
  );
}
