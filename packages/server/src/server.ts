import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { encodeEdgeKey } from "@pier/protocol";
import { createApiApp } from "./api/app.ts";
import type { ApiDependencies } from "./api/context.ts";
import { FailedLoginNames, LoginThrottle, PersistedLogouts, SessionDenyList, createSessionTokens, loadOrCreateSecret, RateLimiter, environmentInScope, environmentScope } from "./auth/index.ts";
import { authenticateRequest } from "./api/authenticate.ts";
import { createDockerProxy, type ProxyResponse } from "./docker/docker-proxy.ts";
import { BrowserConsole } from "./console/index.ts";
import { rawErrorResponse, sendError } from "./http/error-response.ts";
import { canonicalPath } from "./http/canonical-path.ts";
import { EdgeService, defaultEnrollmentLimits, type EnrollmentLimits } from "./edge/edge-service.ts";
import { createEdgeRoutes, type EdgeResponse } from "./edge/edge-routes.ts";
import { HelloGate, defaultHelloGate } from "./edge/hello-gate.ts";
import { announceRestart } from "./edge/restart-notice.ts";
import { TunnelBroker } from "./edge/tunnel-broker.ts";
import { openBuiltInCa, reissueServerCertificate } from "./bootstrap/built-in-tls.ts";
import { prepareFirstAdmin } from "./bootstrap/first-admin.ts";
import { ServerError } from "./errors.ts";
import { DeviceCa } from "./identity/device-ca.ts";
import { Enrollment } from "./identity/enrollment.ts";
import { CertificateRenewal } from "./identity/renewal.ts";
import { RenewalThrottle, defaultRenewalsPerSecond } from "./identity/renewal-throttle.ts";
import { CaRotation } from "./identity/rotation.ts";
import { startRevocation } from "./identity/revocation-runtime.ts";
import { RevocationRegistry } from "./identity/revocations.ts";
import { createUiStatic, uiSecurityHeaders } from "./ui/ui-static.ts";
import { HeartbeatRegistry, type Store } from "./store/index.ts";
import { AlertService } from "./alerts/alert-service.ts";
import type { ClusterEvents } from "./cluster/cluster-events.ts";
import { SettingsCache } from "./store/settings-cache.ts";
import { isDatabaseUnreachable } from "./store/store-errors.ts";
import { isDiskFull } from "./store/disk-full.ts";
import { refusalReport } from "./tls/refusal-report.ts";
import { createMetricsRegistry, createMetricsRoute } from "./metrics/index.ts";
import { createChartRoute } from "./charts/index.ts";
import { observeAudit } from "./alerts/index.ts";
import { createFleetServices } from "./fleet/fleet-runtime.ts";
import { openServerStore, startCluster } from "./cluster/cluster-runtime.ts";
import { onlineAnywhere, replicatedRotation } from "./cluster/rotation-files.ts";
import { handleClusterEvents, replicaSessions } from "./cluster/event-handlers.ts";
import { startClusterRouting } from "./cluster/cluster-routing.ts";
import { ClusterTunnels } from "./cluster/cluster-tunnels.ts";
import { ConnectionBudget, ProxySources, ServerTls, SessionTicketKeys, TlsFront, connectionIdentity, describeWithdrawnTrust, defaultConnectionBudget, defaultHandshakeGate, proxyRefusalLogger, revocationEntriesOf, shedLogger, type TlsRefusal, type UpgradeHandler, type WithdrawnTrust } from "./tls/index.ts";

/** Log levels of the server. */
export type ServerLogLevel = "debug" | "info" | "warn" | "error";

/** `pier server`'s settings, validated by the CLI. */
export interface ServerConfig {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly tunnelPort: number;
  readonly dataDir: string;
  /** `--sslcert/--sslkey` (and `--sslcacert`: every client must present a certificate from it; `--sslcrl`: that CA's CRLs). */
  readonly ssl?: { readonly certPath?: string; readonly keyPath?: string; readonly caPath?: string; readonly crlPath?: string };
  /** `--mtlscacert/--mtlscert/--mtlskey`: a separate mTLS domain for agents (`--mtlscrl`: the CA's CRLs). */
  readonly mtls?: { readonly caPath: string; readonly certPath: string; readonly keyPath: string; readonly crlPath?: string };
  readonly adminPasswordFile?: string;
  /**
   * `--edge-api-url`/`--edge-tunnel-address`: what new edge keys carry when Settings → Edge
   * Compute leaves them empty, for servers whose public ports differ from the bound ones
   * (Kubernetes NodePorts, `docker run -p 443:9443`). Without them, keys carry the bound ports.
   */
  readonly edgeAddresses?: { readonly apiUrl?: string; readonly tunnelAddress?: string };
  /** The built web UI (`packages/ui/dist`), served outside `/api/`; without it those paths answer the API's 404. */
  readonly uiDir?: string;
  /** The agent's Helm chart (`deploy/helm/pier-agent`), served packaged at `/charts/pier-agent-<version>.tgz`; without it `/charts/` is the UI's. */
  readonly agentChartDir?: string;
  /** `--max-connections`, `--max-connections-per-source`: open connections over both listeners (defaults 20,000 and 512). */
  readonly connections?: { readonly maxTotal?: number; readonly maxPerSource?: number };
  /**
   * `--proxy-protocol-from`: load balancers (addresses, CIDR blocks, comma-separated) whose
   * connections to the HTTPS and tunnel listeners begin with a PROXY header naming the client.
   * Off by default: nobody may set a client address.
   */
  readonly proxyProtocolFrom?: string;
  /** `--enrollment-rate`, `--waiting-room-max`: new devices per source and period, and waiting devices (defaults 10/min and 10,000). */
  readonly enrollment?: Partial<EnrollmentLimits>;
  /** Absolute deadline of a TLS handshake, from accept (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /**
   * Admission control (docs/protocol.md "Admission control and restarts"): TLS handshakes per
   * listener at once (`--max-concurrent-handshakes`, default 64) and waiting (20,000); hellos at
   * once (`--max-concurrent-hellos`, default 32) and waiting (2,000), past which a device is told
   * to retry later.
   */
  readonly admission?: Partial<AdmissionLimits>;
  /** `--device-cert-lifetime`: lifetime of device certificates the built-in CA issues, in seconds (default 30 days; 60 s to 397 days). */
  readonly deviceCertificateLifetimeSeconds?: number;
  /** `--renewal-rate`: device certificate renewals issued per second across the fleet (default 50, `RenewalThrottle`). */
  readonly renewalsPerSecond?: number;
  /**
   * `--database-url` and the flags that go with it: this server is one replica of several on one
   * PostgreSQL (docs/architecture.md "Scale-out"). Absent: SQLite in `--data`, a single server.
   */
  readonly cluster?: {
    readonly databaseUrl: string;
    /** `--secret-file`: at least 32 random bytes, the same on every replica (encrypts the shared private keys). */
    readonly secretFile: string;
    /** `--peer-bind` (default 0.0.0.0:9445): the listener other replicas reach this one on. */
    readonly peerHost: string;
    readonly peerPort: number;
    /** `--peer-address`: HOST:PORT the other replicas connect to (default: the host name and the peer port). */
    readonly peerAddress?: string;
    /** `--replica-name` (default: the host name), shown in logs and errors. */
    readonly replicaName?: string;
  };
  readonly log: (level: ServerLogLevel, message: string) => void;
}

/** Limits of the admission path; defaults in `defaultHandshakeGate` and `defaultHelloGate`. */
export interface AdmissionLimits {
  readonly maxConcurrentHandshakes: number;
  readonly maxQueuedHandshakes: number;
  readonly maxConcurrentHellos: number;
  readonly maxQueuedHellos: number;
}

/** What a graceful restart's `drain()` did. */
export interface DrainSummary {
  /** Sessions told `refused {code: "restarting"}` with their delay. */
  readonly told: number;
  /** The shortest delay told: the drain's longest wait plus this server's own start-up, in seconds. */
  readonly earliestSeconds: number;
  /** Each was told a delay in `earliestSeconds` … + this − 1 seconds. */
  readonly windowSeconds: number;
  /** Connections still open when the wait ended (closed by `close()`). */
  readonly leftOpen: number;
}

/** How long `drain()` waits for connections to end after GOAWAY. */
const drainTimeoutMs = 5_000;

/** A running server. */
export interface RunningServer {
  readonly httpsAddress: AddressInfo;
  readonly tunnelAddress: AddressInfo;
  readonly store: Store;
  /** This process's replica id (random per start; `replicas.id` on PostgreSQL). */
  readonly replicaId: string;
  /** SPKI SHA-256 agents pin in EDGE_KEY. */
  readonly edgeFingerprint: () => string;
  /** A fleet-wide EDGE_KEY for this server as reached at `apiUrl`. */
  readonly fleetEdgeKey: (apiUrl: string) => Promise<string>;
  /**
   * A graceful restart's first half (SIGTERM): stops accepting, ends every session with
   * `refused {code: "restarting", retryAfterSeconds}` spread over ceil(sessions / 500) s (1–60),
   * sends GOAWAY on every HTTP/2 connection and waits for them to end, at most 5 s. Call
   * `close()` after it.
   */
  drain(): Promise<DrainSummary>;
  close(): Promise<void>;
}

/** HSTS on the HTTPS listener: two years, Mozilla's recommendation; no `includeSubDomains`, the domain is not ours to commit. */
const strictTransportSecurity = "max-age=63072000";

/** What the tunnel listener answers outside the edge protocol: 404, as if nothing were there. */
function tunnelPortOnly(path: string | undefined): ServerError {
  return new ServerError("not_found", `Nothing at ${(path ?? "/").split("?", 1)[0] ?? "/"} on the tunnel port: it serves the edge protocol only.`, {
    fix: "Use the HTTPS port (--bind) for the web UI, the API and the Docker proxy.",
  });
}

/**
 * Starts the Pier server: TLS material (built-in CA on first start), store, API, edge
 * endpoints, the HTTPS and tunnel listeners, and file watching for TLS reloads.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  // How long this start takes: a graceful restart tells devices not to come back sooner.
  const startedAt = performance.now();
  // Checked before anything opens. The peer listener (replicas only) never takes a PROXY
  // header: only the HTTPS and tunnel fronts face balancers.
  const proxySources = config.proxyProtocolFrom === undefined ? undefined : ProxySources.parse(config.proxyProtocolFrom);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // On a replica (--database-url) the shared files (built-in CA, server key, JWT secret) come
  // from the database, or are created once cluster-wide, before TLS loads them from --data.
  // What waited in memory while the database could not be reached is written as soon as it answers
  // again: check-ins whose stored time went stale would show devices red on every replica meanwhile.
  const onDatabaseBack: (() => void)[] = [];
  const store = await openServerStore(config, () => {
    for (const listener of onDatabaseBack) listener();
  });
  const cluster = await startCluster(config, store).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const tls = await ServerTls.load(config).catch(async (error: unknown) => {
    await cluster.close();
    await store.close();
    throw error;
  });
  // Alerts (docs/identity.md "Alerts") observe every audit event, so they start before anything appends one.
  const alerts = new AlertService({ store, log: config.log });
  alerts.start();
  // Replicas show the stored check-in, so they write every one at each 2 s flush; a single server
  // shows its memory and writes a known device's check-ins every 10 s (SQLite's pages are the cost).
  const heartbeats = new HeartbeatRegistry({
    store: store.environments,
    ...(config.cluster ? { fullFlushIntervalMs: 2000 } : {}),
    // An unreachable database (or a full disk) is said once by the store; the check-ins wait in memory.
    onFlushError: (error, pending) => config.log(isDatabaseUnreachable(error) || isDiskFull(error) ? "debug" : "error", `could not save ${pending} check-in(s): ${(error as Error).message}`),
  });
  heartbeats.start();
  onDatabaseBack.push(() => void heartbeats.flush());
  const firstAdmin = await prepareFirstAdmin(store, { dataDir: config.dataDir, ...(config.adminPasswordFile === undefined ? {} : { adminPasswordFile: config.adminPasswordFile }), log: config.log });
  const secret = loadOrCreateSecret(join(config.dataDir, "secrets", "jwt.key"));
  // The ports actually bound (the configured ones may be 0), for edge keys and CRL URLs.
  const ports = { https: config.bindPort, tunnel: config.tunnelPort };
  const deviceCa = await openDeviceCa(config, store, tls, ports);
  const enrollment = new Enrollment({ store, deviceCa: () => (deviceCa && tls.builtInFlow ? deviceCa : undefined) });
  // One in-memory revoked set (built-in CA and operator CRLs): the edge service checks every hello
  // presenting a certificate against it, and the revocation runtime below fills it.
  const revoked = new RevocationRegistry();
  // Hellos read the settings from memory: forgotten on every change announced (here or on
  // another replica) and after a missed announcement, read again at least once a second.
  const helloSettings = new SettingsCache(store.settings);
  cluster.events.subscribe((event) => {
    if (event.type === "settings_changed") helloSettings.forget();
  });
  cluster.events.onResync(() => helloSettings.forget());
  // Prometheus metrics (docs/architecture.md "Metrics"): counted where things happen, gauges read at scrape.
  const metrics = createMetricsRegistry({
    agentsConnected: () => edge.heldSessions().length,
    waitingRoom: async () => (await store.environments.page({ waiting: true, limit: 0 })).total,
    certificates: () => [
      { kind: "server", notAfter: tls.main.certificate.notAfter },
      ...(tls.mtls ? [{ kind: "mtls", notAfter: tls.mtls.certificate.notAfter }] : []),
      ...(deviceCa?.trusted ?? []).map((ca) => ({ kind: "device_ca", notAfter: ca.certificate.notAfter })),
    ],
    deviceExpiry: async () => (await store.certificates.inventory({ start: 0, limit: 0, now: new Date() })).expiry,
  });
  const counts = metrics.counts;
  const stopCountingAudit = observeAudit(
    store.audit,
    (event) => {
      if (event.kind === "enrolled") counts.enrolled();
      else if (event.kind === "certificate_issued") counts.certificateIssued(typeof event.detail["reason"] === "string" ? event.detail["reason"] : "unknown");
    },
    (error) => config.log("error", `metrics: ${(error as Error).message}`),
  );
  const checkIns = { record: (environmentId: number, at: Date) => (counts.checkIn(), heartbeats.record(environmentId, at)) };
  const edge = new EdgeService(store, checkIns, { log: config.log, enrollment: { ...defaultEnrollmentLimits, ...config.enrollment }, identity: enrollment, revocations: revoked, settings: helloSettings });
  const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message), onSettled: (seconds) => counts.tunnel(seconds) });
  // Routing between replicas (docs/architecture.md "Reaching a device on another replica"): the
  // peer listener, this replica's row and the session directory. A single server opens no peer port.
  const { peer } = cluster;
  const routing =
    peer && cluster.files
      ? await startClusterRouting({
          store,
          files: cluster.files,
          replicaId: cluster.replicaId,
          replicaName: cluster.replicaName,
          peerHost: peer.host,
          peerPort: peer.port,
          ...(peer.address === undefined ? {} : { peerAddress: peer.address }),
          edge,
          tunnels,
          log: config.log,
        })
      : undefined;
  const reach = routing?.tunnels ?? new ClusterTunnels({ local: tunnels, isLocal: (environmentId) => edge.isConnected(environmentId) });
  // What must act at once on every replica goes through the events bus (cluster/event-handlers.ts);
  // a single server's bus is in-process.
  const events: ClusterEvents = cluster.events;
  // Revocation that takes effect at once, and the built-in CA's CRL (docs/identity.md "Revocation").
  const revocations = await startRevocation({
    dataDir: config.dataDir,
    store,
    sessions: edge,
    tunnels,
    deviceCa,
    registry: revoked,
    announce: (revokedCertificate) => events.publish({ type: "certificate_revoked", ...revokedCertificate }),
    log: config.log,
  });
  // Operator CRLs (--mtlscrl, --sslcrl, the upload) join the check at handshake end, which also
  // covers resumed TLS sessions; OpenSSL enforces them in the handshake itself (tls-front).
  revocations.registry.setSource("operator-crl", revocationEntriesOf(tls.clientCrl));
  tls.onClientCrlChange((crl) => revocations.registry.setSource("operator-crl", revocationEntriesOf(crl)));
  // The built-in CA's rotation (docs/identity.md "CA rotation"): its phase sets which CAs the
  // device CA issues from and trusts; a finish moves the server certificate (reloaded once the
  // fronts listen, if that happens while resuming an interrupted finish at start-up).
  let frontsListening = false;
  let reloadWhenListening = false;
  const rotation = deviceCa
    ? await CaRotation.open({
        dataDir: config.dataDir,
        store,
        applyAuthorities: (authorities) => deviceCa.setAuthorities(authorities),
        sessions: edge,
        moveServerCertificate: async (ca) => {
          if (!(await reissueServerCertificate(config.dataDir, ca))) return;
          if (frontsListening) config.log("info", `CA rotation: server certificate re-issued for the same key: ${await tls.reload()}`);
          else reloadWhenListening = true;
        },
        lastCheckIn: (id, stored) => heartbeats.lastCheckIn(id, stored),
        // Replicas: the rotation's CAs go through the cluster files and `rotation_changed`.
        ...(cluster.files ? { ...replicatedRotation(cluster.files, events, config.dataDir), onlineAnywhere: (ids: readonly number[]) => onlineAnywhere(store.cluster, ids) } : {}),
        log: config.log,
      })
    : undefined;
  edge.onSessionOpened((environmentId) => {
    tunnels.sessionOpened(environmentId);
    rotation?.sessionOpened(environmentId).catch((error: unknown) => config.log("warn", `CA rotation: could not tell environment ${environmentId} to renew: ${(error as Error).message}`));
  });
  // Renewals over the devices' own mTLS sessions (docs/identity.md "Renewal"), spread fleet-wide.
  const renewal = new CertificateRenewal({
    store,
    deviceCa: () => enrollment.deviceCa,
    revocations: revocations.registry,
    throttle: new RenewalThrottle({ renewalsPerSecond: config.renewalsPerSecond ?? defaultRenewalsPerSecond }),
    log: config.log,
    onOutcome: (outcome) => counts.renewal(outcome),
  });
  const mtlsConfigured = () => tls.mtlsConfigured;
  const refusalAudit = new RateLimiter({ capacity: 20, refillIntervalMs: 3_000 });

  const edgeEndpoint: ApiDependencies["edgeEndpoint"] = async (requestUrl) => {
    const settings = await store.settings.get();
    const agentHost = tls.mtls ? (tls.mtls.names.find((n) => !n.startsWith("*.")) ?? requestUrl.hostname) : requestUrl.hostname;
    const hostPart = agentHost.includes(":") ? `[${agentHost}]` : agentHost;
    const configured = config.edgeAddresses;
    const apiUrl = settings.edgePortainerUrl ?? configured?.apiUrl ?? (tls.mtls ? `https://${hostPart}:${ports.https}` : `https://${requestUrl.host}`);
    const apiHost = new URL(apiUrl).hostname;
    const apiHostPart = apiHost.includes(":") && !apiHost.startsWith("[") ? `[${apiHost}]` : apiHost;
    const tunnelAddress = settings.edgeTunnelServerAddress ?? configured?.tunnelAddress ?? `${apiHostPart}:${ports.tunnel}`;
    return { apiUrl, tunnelAddress, serverFingerprint: tls.edgeMaterial.spkiSha256 };
  };

  // Logouts are kept in the store: refused after a restart and, announced, on every replica.
  const denied = new SessionDenyList();
  const logouts = new PersistedLogouts({ records: store.logins, denied, announce: ({ jti, expiresAt }) => events.publish({ type: "login_revoked", jti, expiresAt: expiresAt.getTime() }) });
  await logouts.load();
  const fleet = createFleetServices({ store, events, edge, dataDir: config.dataDir, ...(cluster.box ? { secretBox: cluster.box } : {}), log: config.log, onStackReported: (type) => counts.stackReported(type) });
  // Every replica ticks staged rollouts; a compare-and-set on the rollout row lets one advance each step.
  fleet.rollouts.start();
  // Shells in devices' containers over a WebSocket (docs/security.md "Browser console").
  const browserConsole = new BrowserConsole({ store, tunnels: reach, log: config.log });
  const deps: ApiDependencies = {
    store,
    edge,
    events,
    fleet,
    // On replicas who holds each session comes from the session directory, the same on every replica.
    ...(routing ? { connected: (ids: readonly number[]) => routing.directory.connected(ids) } : {}),
    // On replicas the stored check-in, the same on every replica (docs/architecture.md "Heartbeats").
    lastCheckIn: cluster.lastCheckIn((id, stored) => heartbeats.lastCheckIn(id, stored)),
    sessions: createSessionTokens(secret, denied, (jti, expiresAt) => logouts.loggedOut(jti, expiresAt)),
    loginThrottle: new LoginThrottle(),
    failedLoginNames: new FailedLoginNames(secret),
    firstAdmin,
    edgeEndpoint,
    reloadTls: async () => ({ message: await tls.reload() }),
    tls,
    builtInCa: () => openBuiltInCa(config.dataDir),
    deviceTrustBundle: () => deviceCa?.clientTrustBundle(),
    rotation: () => rotation,
    revocation: () => revocations.revocation,
    deviceCrl: (caId) => revocations.crls?.current(caId),
    alerts,
    console: browserConsole,
    log: config.log,
  };
  // On replicas the uploaded mTLS set is shared: stored and announced after a change made here,
  // applied (with the same lock-out) after one made elsewhere.
  const mtlsFiles = cluster.files;
  if (mtlsFiles) tls.onUploadChange(async () => void (await mtlsFiles.publish("mtls/")));
  const stopHandlingEvents = await handleClusterEvents({
    logouts,
    events,
    edge,
    tunnels,
    heartbeats,
    revocation: revocations.revocation,
    authorities: () => deviceCa?.trusted ?? [],
    checkinInterval: async () => (await store.settings.get()).edgeAgentCheckinInterval,
    ...(mtlsFiles ? { followMtls: () => tls.followUpload(() => mtlsFiles.materialize("mtls/")), sessions: replicaSessions(store, edge) } : {}),
    ...(mtlsFiles && rotation ? { followRotation: () => rotation.follow() } : {}),
    log: config.log,
  });
  const api = getRequestListener(createApiApp(deps).fetch);
  const hellos = new HelloGate({ maxConcurrent: config.admission?.maxConcurrentHellos ?? defaultHelloGate.maxConcurrent, maxQueued: config.admission?.maxQueuedHellos ?? defaultHelloGate.maxQueued });
  const edgeRoutes = createEdgeRoutes({
    edge,
    hellos,
    mtlsRequired: mtlsConfigured,
    identify: (req) => {
      const who = connectionIdentity(req);
      // The mTLS server verified every certificate it accepted; the optional one (built-in flow) may hold an unverified one.
      const presented = who.peerCertificate;
      return {
        authorized: who.mtls && who.authorized,
        remoteAddress: who.remoteAddress ?? "unknown",
        ...(presented ? { peerCertificate: presented } : {}),
        ...(presented && !who.authorized ? { peerCertificateError: who.authorizationError ?? "UNABLE_TO_VERIFY_LEAF_SIGNATURE" } : {}),
      };
    },
    // An expired certificate of our own CA still proves its key: the device re-enrolls (docs/identity.md "expired").
    acceptsUnverified: (certificate, error) => error === "CERT_HAS_EXPIRED" && enrollment.deviceCa?.authorityOf(certificate) !== undefined,
    // A certificate from a CA a rotation retired is never trusted again (it may be why the CA was rotated).
    explainUnverified: (certificate, error) => rotation?.explainRetired(certificate, error),
    onCertificateRefused: ({ remoteAddress, certificate, failure }) => {
      counts.handshakeRefused("edge", failure.code);
      if (!refusalAudit.take(remoteAddress).allowed) return;
      store.audit
        .append({ kind: "refused_tls", sourceAddress: remoteAddress, detail: { listener: "edge", code: failure.code, cause: failure.cause, serial: certificate.serialNumber.toLowerCase(), certificate: certificate.subject.replace(/\n/g, ", "), issuer: certificate.issuer.replace(/\n/g, ", ") } })
        .catch((error: unknown) => config.log("error", `audit write failed: ${(error as Error).message}`));
    },
    tunnels,
    renewal,
    onHello: (refusedCode) => counts.hello(refusedCode),
    fleet: { desiredState: fleet.desiredState, reports: fleet.reports, environments: store.environments },
    log: config.log,
  });
  // Before the Hono app, like the edge routes: it streams both ways.
  const dockerProxy = createDockerProxy({
    store,
    isReachable: (environmentId) => reach.isReachable(environmentId),
    tunnels: reach,
    authenticate: (credentials) => authenticateRequest(deps, credentials),
    inScope: async (user, environmentId) => environmentInScope(store, await environmentScope(store, user), environmentId),
    lastCheckIn: deps.lastCheckIn,
    log: config.log,
  });
  // GET /metrics: any user's token (docs/security.md "Metrics and logs"); before the UI, which serves every other path outside /api/.
  const metricsRoute = createMetricsRoute({ metrics, authenticate: (credentials) => authenticateRequest(deps, credentials), log: config.log });
  const ui = config.uiDir === undefined ? undefined : createUiStatic(config.uiDir);
  // GET /charts/…: the agent chart for `helm install` (docs/security.md "Unauthenticated routes"); packaged now, so a missing chart is logged at start.
  const agentChart = config.agentChartDir === undefined ? undefined : createChartRoute({ dir: config.agentChartDir, log: config.log });
  void agentChart?.prepare();
  // The HTTPS listener serves everything: edge routes, Docker proxy, web UI, API. The tunnel
  // listener serves the edge protocol only (docs/security.md "Paths and ports").
  const requestHandler = (https: boolean) => (req: Parameters<typeof api>[0], res: Parameters<typeof api>[1]) => {
    // Set first, so every answer of the HTTPS listener carries it, whoever writes it (API, UI,
    // Docker proxy, edge routes, errors); browsers never use the tunnel listener.
    if (https) res.setHeader("strict-transport-security", strictTransportSecurity);
    // One canonical path, computed here, is what every dispatcher below routes on.
    try {
      req.url = canonicalPath(req.url).url;
    } catch (error) {
      // A browser may have sent it: the UI's headers (nosniff, CSP) on the HTTPS listener.
      sendError(res, error, https ? uiSecurityHeaders : {});
      return undefined;
    }
    // Both Node response types have these methods; TypeScript cannot unify their overloads.
    if (edgeRoutes(req, res as unknown as EdgeResponse)) return undefined;
    if (!https) {
      sendError(res, tunnelPortOnly(req.url));
      return undefined;
    }
    if (dockerProxy.request(req, res as unknown as ProxyResponse)) return undefined;
    if (metricsRoute(req, res)) return undefined;
    if (agentChart?.(req, res)) return undefined;
    return ui?.(req, res) ?? api(req, res);
  };
  const upgradeHandler =
    (https: boolean): UpgradeHandler =>
    (req, socket, head) => {
      try {
        req.url = canonicalPath(req.url).url;
      } catch (error) {
        socket.end(rawErrorResponse(error));
        return;
      }
      if (!https) socket.end(rawErrorResponse(tunnelPortOnly(req.url)));
      else if (!browserConsole.upgrade(req, socket, head) && !dockerProxy.upgrade(req, socket, head)) socket.end(rawErrorResponse(new ServerError("not_found", `Nothing at ${req.url} takes over a connection; only /api/endpoints/{id}/docker/… and /api/endpoints/{id}/console do.`)));
    };
  // Refused TLS clients: logged and audited one by one up to a rate per listener, then counted
  // (a reconnect storm's abandoned handshakes were thousands of lines and INSERTs a second).
  const refusalReports: (() => void)[] = [];
  const onRefusal = (listener: "https" | "tunnel") => {
    const report = refusalReport({
      listener,
      log: config.log,
      perSource: refusalAudit,
      audit: (refusal, { serial, subject }) =>
        void store.audit
          .append({ kind: "refused_tls", sourceAddress: refusal.remoteAddress ?? "unknown", detail: { listener, code: refusal.failure.code, cause: refusal.failure.cause, serverName: refusal.serverName ?? null, certificate: subject, serial } })
          .catch((error: unknown) => config.log("error", `audit write failed: ${(error as Error).message}`)),
    });
    refusalReports.push(report.stop);
    return (refusal: TlsRefusal) => {
      counts.handshakeRefused(listener, refusal.failure.code);
      report.refused(refusal);
    };
  };
  const onError = (error: unknown) => config.log("error", `listener: ${error instanceof Error ? error.message : String(error)}`);
  const material = tls.material();
  const policy = tls.policies();
  if (proxySources) config.log("info", `PROXY protocol: connections from ${proxySources.entries.join(", ")} must begin with a PROXY header naming the client`);
  // Kept across restarts: the fleet's reconnects after a crash resume their TLS sessions.
  const sessionTickets = SessionTicketKeys.load(join(config.dataDir, "secrets", "tls-tickets.key"), (error) => config.log("warn", error.message));
  // One budget over both listeners: the limits are the process's file descriptors and memory.
  const limits = {
    connections: new ConnectionBudget({ ...defaultConnectionBudget, ...config.connections }),
    onShed: shedLogger((message) => config.log("warn", message)),
    // Per front: a storm on the tunnel listener leaves the HTTPS listener's handshakes alone.
    handshakes: { maxConcurrent: config.admission?.maxConcurrentHandshakes ?? defaultHandshakeGate.maxConcurrent, maxQueued: config.admission?.maxQueuedHandshakes ?? defaultHandshakeGate.maxQueued },
    ...(config.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: config.handshakeTimeoutMs }),
    revocations: revocations.registry,
    sessionTickets,
    ...(proxySources ? { proxySources, onProxyRefusal: proxyRefusalLogger((message) => config.log("warn", message)) } : {}),
  };
  const onTrustWithdrawn = (listener: "https" | "tunnel") => (withdrawn: WithdrawnTrust) => config.log("warn", describeWithdrawnTrust(listener, withdrawn));
  const httpsFront = new TlsFront({ material: material.https, policy: policy.https, handler: requestHandler(true), upgradeHandler: upgradeHandler(true), onRefusal: onRefusal("https"), onTrustWithdrawn: onTrustWithdrawn("https"), onError, ...limits });
  const tunnelFront = new TlsFront({ material: material.tunnel, policy: policy.tunnel, handler: requestHandler(false), upgradeHandler: upgradeHandler(false), onRefusal: onRefusal("tunnel"), onTrustWithdrawn: onTrustWithdrawn("tunnel"), onError, ...limits });
  const httpsAddress = await httpsFront.listen(config.bindPort, config.bindHost);
  const tunnelAddress = await tunnelFront.listen(config.tunnelPort, config.bindHost);
  ports.https = httpsAddress.port;
  ports.tunnel = tunnelAddress.port;

  // The HTTPS front's reloader watches every file; the tunnel front follows it.
  tls.attach({ https: httpsFront, tunnel: tunnelFront });
  revocations.attach([httpsFront, tunnelFront]);
  frontsListening = true;
  if (reloadWhenListening) config.log("info", `CA rotation: server certificate re-issued for the same key: ${await tls.reload()}`);
  const startupMs = performance.now() - startedAt;

  return {
    httpsAddress,
    tunnelAddress,
    store,
    replicaId: cluster.replicaId,
    edgeFingerprint: () => tls.edgeMaterial.spkiSha256,
    fleetEdgeKey: async (apiUrl) => encodeEdgeKey({ ...(await edgeEndpoint(new URL(apiUrl))), environmentId: 0 }),
    async drain() {
      httpsFront.stopAccepting();
      tunnelFront.stopAccepting();
      // The devices come back after the drain and a start-up like this one, not before.
      const notice = announceRestart(edge, { earliestSeconds: (drainTimeoutMs + startupMs) / 1000 });
      const left = await Promise.all([httpsFront.goAway(drainTimeoutMs), tunnelFront.goAway(drainTimeoutMs)]);
      notice.stop();
      return { told: notice.told(), earliestSeconds: notice.earliestSeconds, windowSeconds: notice.windowSeconds, leftOpen: left[0] + left[1] };
    },
    async close() {
      stopHandlingEvents();
      stopCountingAudit();
      await events.close();
      tls.close();
      revocations.close();
      tunnels.closeAll();
      edge.closeAll();
      // After the sessions closed (their rows released), before the store closes.
      await routing?.close();
      await Promise.all([httpsFront.close(), tunnelFront.close()]);
      sessionTickets.close();
      for (const stop of refusalReports) stop();
      await heartbeats.stop();
      await alerts.stop();
      await fleet.rollouts.stop();
      await store.close();
    },
  };
}

/**
 * The device CA of the built-in flow over `DATA/ca` (docs/identity.md), or `undefined` when the
 * server has no built-in CA. The tunnel listener's client CAs follow its trusted CAs.
 */
async function openDeviceCa(config: ServerConfig, store: Store, tls: ServerTls, ports: { https: number }): Promise<DeviceCa | undefined> {
  const ca = openBuiltInCa(config.dataDir);
  if (!ca) return undefined;
  const deviceCa = await DeviceCa.open({
    store,
    authorities: { issuing: ca, trusted: [ca] },
    ...(config.deviceCertificateLifetimeSeconds === undefined ? {} : { lifetimeSeconds: config.deviceCertificateLifetimeSeconds }),
    // The API URL edge keys carry (edgeEndpoint), without a request to take the host from.
    crlUrl: async () => {
      const settings = await store.settings.get();
      const host = tls.main.names.find((name) => !name.startsWith("*.")) ?? "localhost";
      const apiUrl = settings.edgePortainerUrl ?? config.edgeAddresses?.apiUrl ?? `https://${host.includes(":") ? `[${host}]` : host}:${ports.https}`;
      return `${apiUrl.replace(/\/+$/, "")}/api/pki/crl`;
    },
  });
  tls.setDeviceTrust(deviceCa.clientTrustBundle());
  deviceCa.onChange(() => {
    try {
      tls.setDeviceTrust(deviceCa.clientTrustBundle());
    } catch (error) {
      config.log("error", `the tunnel listener kept its previous device CAs: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return deviceCa;
}
