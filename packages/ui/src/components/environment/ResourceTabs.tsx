import { Code, Text } from "@mantine/core";
import type { DockerImage, DockerNetwork, DockerVolume } from "../../api/types.ts";
import { formatAgo, formatBytes, shortId } from "../../format.ts";
import { type DockerSource, useDockerList } from "./docker-source.ts";
import { type Column, ResourceTable } from "./ResourceTable.tsx";

const imageColumns: Column<DockerImage>[] = [
  { header: "Tags", cell: (i) => <Text size="sm" fw={500}>{i.RepoTags?.filter((t) => t !== "<none>:<none>").join(", ") || "<untagged>"}</Text> },
  { header: "ID", cell: (i) => <Code>{shortId(i.Id)}</Code> },
  { header: "Size", cell: (i) => formatBytes(i.Size) },
  { header: "Created", cell: (i) => formatAgo(i.Created) },
];

/** The Images tab. */
export function ImagesTab({ source }: { source: DockerSource }) {
  const images = useDockerList(source, "images");
  return <ResourceTable label="Images" columns={imageColumns} rows={images.data} rowKey={(i) => i.Id} empty="No image on this device." error={images.error} loading={images.loading} />;
}

const volumeColumns: Column<DockerVolume>[] = [
  { header: "Name", cell: (v) => <Text size="sm" fw={500} style={{ wordBreak: "break-all" }}>{v.Name}</Text> },
  { header: "Driver", cell: (v) => v.Driver },
  { header: "Mount point", cell: (v) => (v.Mountpoint ? <Code style={{ wordBreak: "break-all" }}>{v.Mountpoint}</Code> : "—") },
];

/** The Volumes tab. */
export function VolumesTab({ source }: { source: DockerSource }) {
  const volumes = useDockerList(source, "volumes");
  return <ResourceTable label="Volumes" columns={volumeColumns} rows={volumes.data} rowKey={(v) => v.Name} empty="No volume on this device." error={volumes.error} loading={volumes.loading} />;
}

const networkColumns: Column<DockerNetwork>[] = [
  { header: "Name", cell: (n) => <Text size="sm" fw={500}>{n.Name}</Text> },
  { header: "ID", cell: (n) => <Code>{shortId(n.Id)}</Code> },
  { header: "Driver", cell: (n) => n.Driver },
  { header: "Scope", cell: (n) => n.Scope || "—" },
];

/** The Networks tab. */
export function NetworksTab({ source }: { source: DockerSource }) {
  const networks = useDockerList(source, "networks");
  return <ResourceTable label="Networks" columns={networkColumns} rows={networks.data} rowKey={(n) => n.Id} empty="No network on this device." error={networks.error} loading={networks.loading} />;
}
