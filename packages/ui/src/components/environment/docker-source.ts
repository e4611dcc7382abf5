import { api } from "../../api/client.ts";
import type { DockerContainer, DockerImage, DockerNetwork, DockerSnapshotReport, DockerVolume, Endpoint } from "../../api/types.ts";
import { type Polled, usePolling } from "../../hooks/use-polling.ts";

/**
 * Where an environment page reads Docker from: live through the tunnel while the device is
 * associated and connected, else its last snapshot (read-only). Asking the tunnel of an
 * offline device would only answer 503.
 */
export interface DockerSource {
  environmentId: number;
  live: boolean;
  snapshot: DockerSnapshotReport["Snapshot"] | undefined;
}

/** Whether the environment's Docker Engine can be reached now. */
export function isLive(environment: Endpoint): boolean {
  return environment.UserTrusted && environment.Pier.Connected;
}

/** The Docker Engine API of an environment, through the server. */
export function dockerPath(environmentId: number, path: string): string {
  return `/api/endpoints/${environmentId}/docker/${path}`;
}

const fromSnapshot = {
  containers: (snapshot: DockerSnapshotReport["Snapshot"]): DockerContainer[] =>
    snapshot.containers.map((c) => ({ Id: c.id, Names: c.names, Image: c.image, State: c.state, Status: c.status, Created: c.created })),
  images: (snapshot: DockerSnapshotReport["Snapshot"]): DockerImage[] => snapshot.images.map((i) => ({ Id: i.id, RepoTags: i.tags, Size: i.sizeBytes, Created: i.created })),
  volumes: (snapshot: DockerSnapshotReport["Snapshot"]): DockerVolume[] => snapshot.volumes.map((v) => ({ Name: v.name, Driver: v.driver, Mountpoint: "" })),
  networks: (snapshot: DockerSnapshotReport["Snapshot"]): DockerNetwork[] => snapshot.networks.map((n) => ({ Id: n.id, Name: n.name, Driver: n.driver, Scope: "" })),
};

const livePaths = {
  containers: { path: "containers/json?all=1", pick: (body: unknown) => body as DockerContainer[] },
  images: { path: "images/json", pick: (body: unknown) => body as DockerImage[] },
  volumes: { path: "volumes", pick: (body: unknown) => (body as { Volumes: DockerVolume[] | null }).Volumes ?? [] },
  networks: { path: "networks", pick: (body: unknown) => body as DockerNetwork[] },
};

type Listed = { containers: DockerContainer; images: DockerImage; volumes: DockerVolume; networks: DockerNetwork };

/**
 * One Docker list of the environment, refreshed every 3 s while live.
 *
 * @example
 * const containers = useDockerList(source, "containers");
 */
export function useDockerList<K extends keyof Listed>(source: DockerSource, kind: K): Polled<Listed[K][]> {
  const { environmentId, live, snapshot } = source;
  return usePolling(
    async (signal) => {
      if (live) return livePaths[kind].pick(await api<unknown>("GET", dockerPath(environmentId, livePaths[kind].path), { signal })) as Listed[K][];
      return (snapshot ? fromSnapshot[kind](snapshot) : []) as Listed[K][];
    },
    live ? 3000 : 0,
    live ? `${environmentId}:live` : `${environmentId}:snapshot:${snapshot?.collectedAt ?? ""}`,
    { keepDataOnKeyChange: true },
  );
}
