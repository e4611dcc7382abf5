import { Code, Group, Text } from "@mantine/core";
import type { ReactNode } from "react";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import type { DockerImage, DockerNetwork, DockerVolume } from "../../api/types.ts";
import { formatAgo, formatBytes, shortId } from "../../format.ts";
import { useCan } from "../../hooks/use-current-user.ts";
import { type DockerSource, useDockerList } from "./docker-source.ts";
import { CreateResourceButton, PullImageButton, RemoveResourceButton } from "./ResourceActions.tsx";
import { type Column, ResourceTable } from "./ResourceTable.tsx";

// The networks every engine has; Docker refuses to remove them.
const builtInNetworks: ReadonlySet<string> = new Set(["bridge", "host", "none"]);

/** Actions above a tab's table, shown only while the device is live and the user may operate it. */
function Toolbar({ children }: { children: ReactNode }) {
  return (
    <Group justify="flex-end" mb="sm">
      {children}
    </Group>
  );
}

/** The translator of this area's screens. */
type DockerT = TFunction<"docker">;

/** The table's columns, with a Remove column when the user may change the device. */
function withRemove<T>(t: DockerT, columns: Column<T>[], remove: ((row: T) => ReactNode) | undefined): Column<T>[] {
  return remove ? [...columns, { header: t("table.actions"), cell: remove, width: 110 }] : columns;
}

/** One row per tag, as `docker images` lists them: an image with two tags is two rows, an untagged one a row of its own. */
interface ImageRow {
  image: DockerImage;
  /** `repository:tag`, or `null` for an untagged image. */
  tag: string | null;
}

function imageRows(images: DockerImage[] | undefined): ImageRow[] | undefined {
  return images?.flatMap((image): ImageRow[] => {
    const tags = (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>");
    return tags.length === 0 ? [{ image, tag: null }] : tags.map((tag) => ({ image, tag }));
  });
}

const imageColumns = (t: DockerT): Column<ImageRow>[] => [
  { header: t("images.columns.tag"), cell: (row) => <Text size="sm" fw={500}>{row.tag ?? t("images.untagged")}</Text> },
  { header: t("images.columns.id"), cell: (row) => <Code>{shortId(row.image.Id)}</Code> },
  { header: t("images.columns.size"), cell: (row) => formatBytes(row.image.Size) },
  { header: t("images.columns.created"), cell: (row) => formatAgo(row.image.Created) },
];

/** The Images tab: Pull image (with progress) and Remove — a tag is untagged; the image goes with its last tag — while the device is live. */
export function ImagesTab({ source }: { source: DockerSource }) {
  const { t } = useTranslation("docker");
  const images = useDockerList(source, "images");
  const canOperate = useCan("operate");
  const changes = source.live && canOperate;
  const remove = changes
    ? // A reference goes as it is: Docker's route takes its slashes (registry/repository:tag), and the proxy refuses encoded ones.
      (row: ImageRow) => <RemoveResourceButton environmentId={source.environmentId} noun="image" name={row.tag ?? shortId(row.image.Id)} path={`images/${row.tag ?? row.image.Id}`} onDone={images.refresh} />
    : undefined;
  return (
    <>
      {changes && (
        <Toolbar>
          <PullImageButton environmentId={source.environmentId} onDone={images.refresh} />
        </Toolbar>
      )}
      <ResourceTable label={t("images.label")} columns={withRemove(t, imageColumns(t), remove)} rows={imageRows(images.data)} rowKey={(row) => `${row.image.Id}:${row.tag ?? ""}`} empty={t("images.empty")} error={images.error} loading={images.loading} />
    </>
  );
}

const volumeColumns = (t: DockerT): Column<DockerVolume>[] => [
  { header: t("volumes.columns.name"), cell: (v) => <Text size="sm" fw={500} style={{ wordBreak: "break-all" }}>{v.Name}</Text> },
  { header: t("volumes.columns.driver"), cell: (v) => v.Driver },
  { header: t("volumes.columns.mountPoint"), cell: (v) => (v.Mountpoint ? <Code style={{ wordBreak: "break-all" }}>{v.Mountpoint}</Code> : "—") },
];

/** The Volumes tab: Create volume and Remove while the device is live. */
export function VolumesTab({ source }: { source: DockerSource }) {
  const { t } = useTranslation("docker");
  const volumes = useDockerList(source, "volumes");
  const canOperate = useCan("operate");
  const changes = source.live && canOperate;
  const remove = changes ? (v: DockerVolume) => <RemoveResourceButton environmentId={source.environmentId} noun="volume" name={v.Name} path={`volumes/${encodeURIComponent(v.Name)}`} onDone={volumes.refresh} /> : undefined;
  return (
    <>
      {changes && (
        <Toolbar>
          <CreateResourceButton environmentId={source.environmentId} kind={{ noun: "volume", path: "volumes/create", defaultDriver: "local" }} onDone={volumes.refresh} />
        </Toolbar>
      )}
      <ResourceTable label={t("volumes.label")} columns={withRemove(t, volumeColumns(t), remove)} rows={volumes.data} rowKey={(v) => v.Name} empty={t("volumes.empty")} error={volumes.error} loading={volumes.loading} />
    </>
  );
}

const networkColumns = (t: DockerT): Column<DockerNetwork>[] => [
  { header: t("networks.columns.name"), cell: (n) => <Text size="sm" fw={500}>{n.Name}</Text> },
  { header: t("networks.columns.id"), cell: (n) => <Code>{shortId(n.Id)}</Code> },
  { header: t("networks.columns.driver"), cell: (n) => n.Driver },
  { header: t("networks.columns.scope"), cell: (n) => n.Scope || "—" },
];

/** The Networks tab: Create network and Remove (not the engine's own three) while the device is live. */
export function NetworksTab({ source }: { source: DockerSource }) {
  const { t } = useTranslation("docker");
  const networks = useDockerList(source, "networks");
  const canOperate = useCan("operate");
  const changes = source.live && canOperate;
  const remove = changes
    ? (n: DockerNetwork) => (builtInNetworks.has(n.Name) ? null : <RemoveResourceButton environmentId={source.environmentId} noun="network" name={n.Name} path={`networks/${encodeURIComponent(n.Id)}`} onDone={networks.refresh} />)
    : undefined;
  return (
    <>
      {changes && (
        <Toolbar>
          <CreateResourceButton environmentId={source.environmentId} kind={{ noun: "network", path: "networks/create", defaultDriver: "bridge" }} onDone={networks.refresh} />
        </Toolbar>
      )}
      <ResourceTable label={t("networks.label")} columns={withRemove(t, networkColumns(t), remove)} rows={networks.data} rowKey={(n) => n.Id} empty={t("networks.empty")} error={networks.error} loading={networks.loading} />
    </>
  );
}
