import { Paper, SimpleGrid, Text } from "@mantine/core";
import type { DockerSnapshotReport, Endpoint } from "../../api/types.ts";
import { formatAgo, formatBytes } from "../../format.ts";

function Fact({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Paper withBorder radius="md" p="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={600} size="lg" mt={2} truncate="end" title={value}>
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

/** The environment at a glance, from its last Docker snapshot and check-in. */
export function EnvironmentSummary({ environment, report }: { environment: Endpoint; report: DockerSnapshotReport | undefined }) {
  const summary = environment.Snapshots[0];
  const snapshot = report?.Snapshot;
  const running = summary?.RunningContainerCount ?? 0;
  const stopped = summary?.StoppedContainerCount ?? 0;
  return (
    <SimpleGrid cols={{ base: 2, md: 3, lg: 6 }} spacing="sm" mb="lg">
      <Fact label="Docker Engine" value={summary?.DockerVersion ?? "—"} hint={snapshot ? `API ${snapshot.engine.apiVersion} · ${snapshot.engine.os}/${snapshot.engine.arch}` : undefined} />
      <Fact label="Host" value={snapshot?.host.name ?? (environment.Pier.Hostname || "—")} hint={environment.Pier.SourceAddress ? `from ${environment.Pier.SourceAddress}` : undefined} />
      <Fact label="CPUs" value={summary ? String(summary.TotalCPU) : "—"} />
      <Fact label="Memory" value={summary ? formatBytes(summary.TotalMemory) : "—"} />
      <Fact label="Containers" value={summary ? String(running + stopped) : "—"} hint={summary ? `${running} up, ${stopped} stopped` : undefined} />
      <Fact label="Images / volumes" value={summary ? `${summary.ImageCount} / ${summary.VolumeCount}` : "—"} hint={summary ? `snapshot ${formatAgo(summary.Time)}` : "no snapshot yet"} />
    </SimpleGrid>
  );
}
