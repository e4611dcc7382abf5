/** Docker on the device: the Engine API client, the snapshot the server keeps, and tunnels to the Engine. */
export { parseDockerHost, defaultDockerHost, dockerGet, connectDocker, dockerUnavailable, type DockerEndpoint } from "./docker-client.ts";
export { collectSnapshot, encodeSnapshot, watchDockerEvents, type DockerEventHandlers, type SnapshotBody } from "./snapshot.ts";
export { DockerStatus } from "./docker-status.ts";
export { DockerStateReporter, pingDocker, dockerPingTimeoutMs, type DockerStateSink } from "./docker-state-reporter.ts";
export { SnapshotReporter } from "./snapshot-reporter.ts";
export { openTunnel, DockerTunnels, maxTunnels, tunnelErrorHeader, type TunnelOutcome } from "./tunnel.ts";
export { dockerRequest, dockerCall, dockerRefused, pullImage, registryAuthHeader, imagePullQuery, imageRegistry, pullIdleTimeoutMs, type DockerAnswer, type DockerRequestOptions, type PullOptions, type PullProgress, type RegistryAuth } from "./engine-api.ts";
