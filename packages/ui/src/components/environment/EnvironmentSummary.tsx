import { Alert, Paper, SimpleGrid, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { request } from "../../api/client.ts";
import type { DockerSnapshotReport, Endpoint } from "../../api/types.ts";
import { formatAgo, formatBytes, formatNumber } from "../../format.ts";
import { usePolling } from "../../hooks/use-polling.ts";
import { dockerPath, isLive } from "./docker-source.ts";

function Fact({ label, value, hint, color }: { label: string; value: string; hint?: string; color?: string }) {
  return (
    <Paper withBorder radius="md" p="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={600} size="lg" mt={2} truncate="end" title={value} c={color}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}

/** How often a connected device's Docker Engine is pinged through the tunnel while its page is open. */
const pingIntervalMs = 15_000;

/**
 * The environment at a glance, from its last Docker snapshot and check-in. While the device is
 * connected its Docker Engine is pinged through the tunnel: an agent that is online but cannot
 * reach Docker shows "unreachable" and the agent's reason whole, not the snapshot's version.
 */
export function EnvironmentSummary({ environment, report }: { environment: Endpoint; report: DockerSnapshotReport | undefined }) {
  const { t } = useTranslation("docker");
  const live = isLive(environment);
  // Docker answers the ping with the text "OK", not JSON: only its status counts.
  const ping = usePolling((signal) => (live ? request("GET", dockerPath(environment.Id, "_ping"), { signal }).then(() => true) : Promise.resolve(undefined)), pingIntervalMs, `${environment.Id}:${live}`);
  const dockerProblem = live ? ping.error : undefined;
  const summary = environment.Snapshots[0];
  const snapshot = report?.Snapshot;
  const running = summary?.RunningContainerCount ?? 0;
  const stopped = summary?.StoppedContainerCount ?? 0;
  return (
    <>
      {dockerProblem && (
        <Alert color="red" mb="md" role="alert" title={t("summary.unreachableTitle")} data-testid="docker-problem">
          {dockerProblem}
        </Alert>
      )}
      <SimpleGrid cols={{ base: 2, md: 3, lg: 6 }} spacing="sm" mb="lg">
        {dockerProblem ? (
          <Fact label={t("summary.dockerEngine")} value={t("summary.unreachable")} color="red" hint={summary ? t("summary.lastSeen", { version: summary.DockerVersion }) : undefined} />
        ) : (
          // The engine's API version and platform: identifiers, the same in every language.
          <Fact label={t("summary.dockerEngine")} value={summary?.DockerVersion ?? "—"} hint={snapshot ? `API ${snapshot.engine.apiVersion} · ${snapshot.engine.os}/${snapshot.engine.arch}` : undefined} />
        )}
        <Fact label={t("summary.host")} value={snapshot?.host.name ?? (environment.Pier.Hostname || "—")} hint={environment.Pier.SourceAddress ? t("summary.from", { address: environment.Pier.SourceAddress }) : undefined} />
        <Fact label={t("summary.cpus")} value={summary ? formatNumber(summary.TotalCPU) : "—"} />
        <Fact label={t("summary.memory")} value={summary ? formatBytes(summary.TotalMemory) : "—"} />
        <Fact label={t("summary.containers")} value={summary ? formatNumber(running + stopped) : "—"} hint={summary ? t("summary.upAndStopped", { running, stopped }) : undefined} />
        <Fact label={t("summary.imagesVolumes")} value={summary ? `${formatNumber(summary.ImageCount)} / ${formatNumber(summary.VolumeCount)}` : "—"} hint={summary ? t("summary.snapshotAgo", { ago: formatAgo(summary.Time) }) : t("summary.noSnapshot")} />
      </SimpleGrid>
    </>
  );
}
