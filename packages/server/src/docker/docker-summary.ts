import type { DockerSnapshot } from "@pier/protocol";
import type { DockerSummary } from "../store/store.ts";

// Docker's own states (`docker ps --filter status=`): these are "stopped"; paused and
// restarting containers are neither running nor stopped, as in Portainer's counts.
const stoppedStates = new Set(["exited", "created", "dead"]);

/**
 * The counts a list shows of a device's Docker snapshot, kept beside it by `snapshots.put` so the
 * Home list never reads the full snapshots (docs/architecture.md, "Scale-out / Store"). Health
 * comes from the status text Docker gives a container with a health check ("Up 2 hours (healthy)").
 *
 * @example
 * await store.snapshots.put(environmentId, snapshot, new Date(), summarizeDockerSnapshot(snapshot));
 */
export function summarizeDockerSnapshot(snapshot: DockerSnapshot): DockerSummary {
  const { containers } = snapshot;
  return {
    dockerVersion: snapshot.engine.version,
    runningContainers: containers.filter((c) => c.state === "running").length,
    stoppedContainers: containers.filter((c) => stoppedStates.has(c.state)).length,
    healthyContainers: containers.filter((c) => c.status.includes("(healthy)")).length,
    unhealthyContainers: containers.filter((c) => c.status.includes("(unhealthy)")).length,
    images: snapshot.images.length,
    volumes: snapshot.volumes.length,
    cpus: snapshot.host.cpus,
    memoryBytes: Math.round(snapshot.host.memoryBytes),
  };
}
