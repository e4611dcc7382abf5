/** Helpers for Pier's cross-process tests. */
export { run, pier, pierOk, openssl, bash, pierBinary, type RunResult } from "./run.ts";
export { tempDir, type TempDir } from "./temp-dir.ts";
export { makeSeedCertificates, seedServerName } from "./seed-certificates.ts";
export { startPierServer, startPierAgent, startPierDockerProxy, startShellCommand, type PierServer, type PierProcess, type PierDockerProxy } from "./pier-processes.ts";
export { startDockerRegistry, type DockerRegistry, type DockerRegistryOptions, type RegistryUser } from "./docker-registry.ts";
export { PierApi, readSetupToken, type ApiResponse, type ApiTls, type EndpointView } from "./pier-api.ts";
export { docker, testImage, waitForDockerLog } from "./docker-cli.ts";
export { until } from "./until.ts";
export { builtInCaApi, enrollZeroTouchAgent, startBuiltInCaFleet, startBuiltInCaServer, type BuiltInCaFleet, type BuiltInCaServer, type EnrolledAgent } from "./zero-touch.ts";
export { openBrowser, screenshotDir, chromiumPath, type BrowserSession } from "./browser.ts";
export { startUiFixture, type UiFixture } from "./ui-fixture.ts";
export { startPostgres, postgresBin, type PostgresServer } from "./postgres.ts";
export { startHaproxy, haproxyConfig, haproxyBinary, proxySource, type Haproxy, type HaproxyOptions, type BalancedBackend } from "./haproxy.ts";
export { startReplicas, type ReplicaSet, type ReplicaSlot, type ReplicaSetOptions } from "./replicas.ts";
export { freeLoopbackPort } from "./free-loopback-port.ts";
export { startDockerEngines, loadImages, removeStaleDockerEngines, dockerEngineClaimsDir, type DockerEngine, type DockerEngines } from "./docker-engines.ts";
export { acquireHostLock, withHostLock } from "../../../scripts/host-lock.ts";
export { startPrometheus, prometheusConfig, prometheusBinary, type Prometheus, type PierScrapeTarget } from "./prometheus.ts";
