import { Alert, Anchor, Code, Group, Stack, Tabs, Text, Title } from "@mantine/core";
import { IconBox, IconNetwork, IconPhoto, IconDatabase } from "@tabler/icons-react";
import { Trans, useTranslation } from "react-i18next";
import { Link, useParams, useSearchParams } from "react-router";
import { api } from "../api/client.ts";
import type { DockerSnapshotReport, Endpoint } from "../api/types.ts";
import { ContainersTab } from "../components/environment/ContainersTab.tsx";
import { type DockerSource, isLive } from "../components/environment/docker-source.ts";
import { EnvironmentSummary } from "../components/environment/EnvironmentSummary.tsx";
import { EnvironmentActions } from "../components/environment/EnvironmentActions.tsx";
import { useCan } from "../hooks/use-current-user.ts";
import { CloneAlert } from "../components/CloneFlag.tsx";
import { EnvironmentTags } from "../components/fleet/EnvironmentTags.tsx";
import { AuditTrail } from "../components/identity/AuditTrail.tsx";
import { IdentityCard } from "../components/identity/IdentityCard.tsx";
import { NewEdgeKey } from "../components/environment/NewEdgeKey.tsx";
import { ImagesTab, NetworksTab, VolumesTab } from "../components/environment/ResourceTabs.tsx";
import { HeartbeatBadge } from "../components/HeartbeatBadge.tsx";
import { ClockSkewBadge } from "../components/ClockSkewBadge.tsx";
import { LoadError } from "../components/LoadError.tsx";
import { PageLoader } from "../components/PageLoader.tsx";
import { formatAgo } from "../format.ts";
import { usePolling } from "../hooks/use-polling.ts";
import { usePageTitle } from "../hooks/use-page-title.ts";

/** The environment's Docker objects, one tab each, read through the tunnel. */
const dockerTabs = [
  { value: "containers", Icon: IconBox, Panel: ContainersTab },
  { value: "images", Icon: IconPhoto, Panel: ImagesTab },
  { value: "volumes", Icon: IconDatabase, Panel: VolumesTab },
  { value: "networks", Icon: IconNetwork, Panel: NetworksTab },
] as const;

/** `/environments/:id`: the device's summary and its Docker resources. */
export function EnvironmentScreen() {
  const id = Number(useParams().id);
  // Keyed by id: nothing of one environment (data kept across refreshes, an open drawer) shows on another's page.
  return <EnvironmentPage key={id} id={id} />;
}

function EnvironmentPage({ id }: { id: number }) {
  const [search, setSearch] = useSearchParams();
  const { t } = useTranslation("environments");
  // Rename and Delete need Operator; helpdesk reads.
  const canOperate = useCan("operate");
  const environment = usePolling((signal) => api<Endpoint>("GET", `/api/endpoints/${id}`, { signal }), 5000, String(id));
  usePageTitle(environment.data?.Name ?? t("environment.pageTitle"));
  const snapshotTime = environment.data?.Snapshots[0]?.Time ?? 0;
  // Only asked once the environment says a snapshot exists: the 404 of "none yet" would be noise.
  const report = usePolling((signal) => (snapshotTime > 0 ? api<DockerSnapshotReport>("GET", `/api/endpoints/${id}/docker-snapshot`, { signal }) : Promise.resolve(undefined)), 0, `${id}:${snapshotTime}`, { keepDataOnKeyChange: true });

  if (!Number.isInteger(id) || id <= 0) return <Alert color="red">{t("environment.invalid")}</Alert>;
  if (!environment.data) return environment.error ? <LoadError message={environment.error} /> : <PageLoader />;

  const env = environment.data;
  const asked = search.get("tab");
  // The tab shown is in the URL (?tab=images), so a link or a reload opens it again.
  const tab = dockerTabs.some(({ value }) => value === asked) ? (asked ?? "containers") : "containers";
  const source: DockerSource = { environmentId: id, live: isLive(env), snapshot: report.data?.Snapshot };
  return (
    <>
      <Group justify="space-between" mb="lg" align="flex-start">
        <Stack gap={4}>
          <Group gap="sm">
            <Title order={1} size="h2">
              {env.Name}
            </Title>
            <HeartbeatBadge alive={env.Heartbeat} docker={env.Pier} />
            <ClockSkewBadge skew={env.Pier.ClockSkew} />
          </Group>
          <Text size="sm" c="dimmed">
            <Trans t={t} i18nKey="environment.summary" values={{ edgeId: env.EdgeID || "—", version: env.Agent.Version || "—", ago: formatAgo(env.LastCheckInDate) }} components={{ mono: <Text span ff="monospace" /> }} />
          </Text>
        </Stack>
        {canOperate && <EnvironmentActions environment={env} onChanged={environment.refresh} />}
      </Group>
      <LoadError message={environment.error} />
      <CloneAlert clone={env.Pier.Clone} />
      {!env.UserTrusted && env.EdgeID !== "" && (
        <Alert color="yellow" mb="md">
          <Trans t={t} i18nKey="environment.waits" components={{ room: <Anchor component={Link} to="/waiting-room" /> }} />
        </Alert>
      )}
      {env.EdgeID === "" && (
        <Alert color="blue" mb="md" title={t("environment.unused.title")}>
          <Text size="sm" mb="xs">
            <Trans t={t} i18nKey="environment.unused.text" components={{ code: <Code /> }} />
          </Text>
          <NewEdgeKey environmentId={env.Id} />
        </Alert>
      )}
      {env.UserTrusted && env.EdgeID !== "" && !source.live && (
        <Alert color="gray" mb="md">
          {env.Snapshots[0] ? t("environment.offlineSince", { ago: formatAgo(env.Snapshots[0].Time) }) : t("environment.offline")}
        </Alert>
      )}
      <EnvironmentSummary environment={env} report={report.data} />
      <IdentityCard environment={env} onChanged={environment.refresh} />
      <EnvironmentTags environmentId={env.Id} tagIds={env.TagIds ?? []} onChanged={environment.refresh} />
      <Tabs value={tab} onChange={(value) => setSearch(value === null || value === "containers" ? {} : { tab: value }, { replace: true })} keepMounted={false}>
        <Tabs.List mb="md">
          {dockerTabs.map(({ value, Icon }) => (
            <Tabs.Tab key={value} value={value} leftSection={<Icon size={16} />}>
              {t(`environment.tabs.${value}`)}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {dockerTabs.map(({ value, Panel }) => (
          <Tabs.Panel key={value} value={value}>
            <Panel source={source} />
          </Tabs.Panel>
        ))}
      </Tabs>
      <AuditTrail environmentId={id} />
    </>
  );
}
