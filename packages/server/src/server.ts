import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { encodeEdgeKey } from "@pier/protocol";
import { createApiApp } from "./api/app.ts";
import type { ApiDependencies } from "./api/context.ts";
import { checkPasswordPolicy, hashPassword, loadOrCreateSecret, loginRateLimit, RateLimiter, signSessionToken, verifySessionToken } from "./auth/index.ts";
import { defaultServerNames, ensureBuiltInTls } from "./bootstrap/built-in-tls.ts";
import { authenticateRequest } from "./api/authenticate.ts";
import { createDockerProxy, type ProxyResponse } from "./docker/docker-proxy.ts";
import { rawErrorResponse } from "./docker/docker-errors.ts";
import { EdgeService } from "./edge/edge-service.ts";
import { createEdgeRoutes, type EdgeResponse } from "./edge/edge-routes.ts";
import { TunnelBroker } from "./edge/tunnel-broker.ts";
import { ServerError } from "./errors.ts";
import { HeartbeatRegistry, SqliteStore, type Store } from "./store/index.ts";
import { TlsFront, connectionIdentity, loadFrontMaterial, watchTlsMaterial, type FrontFiles, type FrontMaterial, type RoutingPolicy, type TlsMaterial, type TlsRefusal, type UpgradeHandler } from "./tls/index.ts";

/** Log levels of the server. */
export type ServerLogLevel = "debug" | "info" | "warn" | "error";

/** `pier server`'s settings, validated by the CLI. */
export interface ServerConfig {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly tunnelPort: number;
  readonly dataDir: string;
  /** `--sslcert/--sslkey` (and `--sslcacert`: every client must present a certificate from it). */
  readonly ssl?: { readonly certPath?: string; readonly keyPath?: string; readonly caPath?: string };
  /** `--mtlscacert/--mtlscert/--mtlskey`: a separate mTLS domain for agents. */
  readonly mtls?: { readonly caPath: string; readonly certPath: string; readonly keyPath: string };
  readonly adminPasswordFile?: string;
  readonly log: (level: ServerLogLevel, message: string) => void;
}

/** A running server. */
export interface RunningServer {
  readonly httpsAddress: AddressInfo;
  readonly tunnelAddress: AddressInfo;
  readonly store: Store;
  /** SPKI SHA-256 agents pin in EDGE_KEY. */
  readonly edgeFingerprint: () => string;
  /** A fleet-wide EDGE_KEY for this server as reached at `apiUrl`. */
  readonly fleetEdgeKey: (apiUrl: string) => Promise<string>;
  close(): Promise<void>;
}

interface TlsState {
  main: TlsMaterial;
  mtls?: TlsMaterial;
}

/** The files the server's TLS comes from (built-in ones when no --sslcert). */
async function tlsFiles(config: ServerConfig): Promise<FrontFiles> {
  const mtls = config.mtls ? { certPath: config.mtls.certPath, keyPath: config.mtls.keyPath, caPath: config.mtls.caPath } : undefined;
  const clientCa = config.ssl?.caPath ? { caPath: config.ssl.caPath } : {};
  if (config.ssl?.certPath && config.ssl.keyPath) return { server: { certPath: config.ssl.certPath, keyPath: config.ssl.keyPath, ...clientCa }, ...(mtls ? { mtls } : {}) };
  const builtIn = await ensureBuiltInTls(config.dataDir, defaultServerNames([config.bindHost]));
  if (builtIn.renewed) config.log("info", `built-in CA issued the server certificate ${builtIn.certificate}`);
  return { server: { certPath: builtIn.certificate, keyPath: builtIn.key, ...clientCa }, ...(mtls ? { mtls } : {}) };
}

function stateOf(material: FrontMaterial): TlsState {
  return { main: material.server, ...(material.mtls ? { mtls: material.mtls } : {}) };
}

function policies(state: TlsState, config: ServerConfig): { https: RoutingPolicy; tunnel: RoutingPolicy } {
  if (state.mtls) return { https: { mode: "separate", mtlsNames: state.mtls.names }, tunnel: { mode: "whole-listener" } };
  if (config.ssl?.caPath) return { https: { mode: "whole-listener" }, tunnel: { mode: "whole-listener" } };
  return { https: { mode: "none" }, tunnel: { mode: "none" } };
}

function frontMaterial(state: TlsState): { https: FrontMaterial; tunnel: FrontMaterial } {
  return { https: { server: state.main, ...(state.mtls ? { mtls: state.mtls } : {}) }, tunnel: { server: state.mtls ?? state.main } };
}

async function createFirstAdmin(store: Store, config: ServerConfig): Promise<void> {
  if (!config.adminPasswordFile) return;
  if ((await store.users.count()) > 0) return;
  let password: string;
  try {
    password = readFileSync(config.adminPasswordFile, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw new ServerError("config_invalid", `Cannot read --admin-password-file ${config.adminPasswordFile}: ${(error as Error).message}.`, { cause: error });
  }
  const weak = checkPasswordPolicy(password);
  if (weak) throw new ServerError("config_invalid", `--admin-password-file ${config.adminPasswordFile}: ${weak}`);
  await store.users.create({ username: "admin", passwordHash: await hashPassword(password), role: "admin" });
  config.log("info", "created user admin from --admin-password-file");
}

function describeTls(state: TlsState): string {
  const main = state.main.certificate;
  return `server certificate ${main.subjectText} (until ${main.notAfter.toISOString()})${state.mtls ? `, mTLS certificate ${state.mtls.certificate.subjectText} (until ${state.mtls.certificate.notAfter.toISOString()})` : ""}`;
}

/**
 * Starts the Pier server: TLS material (built-in CA on first start), store, API, edge
 * endpoints, the HTTPS and tunnel listeners, and file watching for TLS reloads.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const files = await tlsFiles(config);
  let tls = stateOf(await loadFrontMaterial(files));
  for (const warning of [...tls.main.warnings, ...(tls.mtls?.warnings ?? [])]) config.log("warn", `TLS: ${warning}`);

  const store = await SqliteStore.open(join(config.dataDir, "pier.db"));
  const heartbeats = new HeartbeatRegistry({ store: store.environments, onFlushError: (error, pending) => config.log("error", `could not save ${pending} check-in(s): ${(error as Error).message}`) });
  heartbeats.start();
  await createFirstAdmin(store, config);
  const secret = loadOrCreateSecret(join(config.dataDir, "secrets", "jwt.key"));
  const edge = new EdgeService(store, heartbeats);
  const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
  const mtlsConfigured = () => tls.mtls !== undefined || config.ssl?.caPath !== undefined;
  const refusalAudit = new RateLimiter({ capacity: 20, refillIntervalMs: 3_000 });
  // The ports actually bound (the configured ones may be 0), for edge keys.
  const ports = { https: config.bindPort, tunnel: config.tunnelPort };

  const edgeEndpoint: ApiDependencies["edgeEndpoint"] = async (requestUrl) => {
    const settings = await store.settings.get();
    const agentHost = tls.mtls ? (tls.mtls.names.find((n) => !n.startsWith("*.")) ?? requestUrl.hostname) : requestUrl.hostname;
    const hostPart = agentHost.includes(":") ? `[${agentHost}]` : agentHost;
    const apiUrl = settings.edgePortainerUrl ?? (tls.mtls ? `https://${hostPart}:${ports.https}` : `https://${requestUrl.host}`);
    const apiHost = new URL(apiUrl).hostname;
    const apiHostPart = apiHost.includes(":") && !apiHost.startsWith("[") ? `[${apiHost}]` : apiHost;
    return { apiUrl, tunnelAddress: settings.edgeTunnelServerAddress ?? `${apiHostPart}:${ports.tunnel}`, serverFingerprint: (tls.mtls ?? tls.main).spkiSha256 };
  };

  const deps: ApiDependencies = {
    store,
    edge,
    lastCheckIn: (id, stored) => heartbeats.lastCheckIn(id, stored),
    sessions: {
      issue: (user) => signSessionToken({ userId: user.id, username: user.username, role: user.role }, secret),
      verify: (token) => verifySessionToken(token, secret),
    },
    loginLimiter: new RateLimiter(loginRateLimit),
    edgeEndpoint,
    reloadTls: async () => {
      await reloader.reload();
      return { message: describeTls(tls) };
    },
    log: config.log,
  };
  const api = getRequestListener(createApiApp(deps).fetch);
  const edgeRoutes = createEdgeRoutes({
    edge,
    mtlsRequired: mtlsConfigured,
    identify: (req) => {
      const who = connectionIdentity(req);
      return { authorized: who.mtls && who.authorized, remoteAddress: who.remoteAddress ?? "unknown", ...(who.mtls && who.peerCertificate ? { peerCertificate: who.peerCertificate } : {}) };
    },
    tunnels,
    log: config.log,
  });
  // Before the Hono app, like the edge routes: it streams both ways.
  const dockerProxy = createDockerProxy({
    store,
    edge,
    tunnels,
    authenticate: (credentials) => authenticateRequest(deps, credentials),
    lastCheckIn: deps.lastCheckIn,
    log: config.log,
  });
  const handler = (req: Parameters<typeof api>[0], res: Parameters<typeof api>[1]) => {
    // Both Node response types have these methods; TypeScript cannot unify their overloads.
    if (edgeRoutes(req, res as unknown as EdgeResponse) || dockerProxy.request(req, res as unknown as ProxyResponse)) return undefined;
    return api(req, res);
  };
  const upgradeHandler: UpgradeHandler = (req, socket, head) => {
    if (!dockerProxy.upgrade(req, socket, head)) socket.end(rawErrorResponse(new ServerError("not_found", `Nothing at ${req.url ?? "/"} takes over a connection; only /api/endpoints/{id}/docker/… does.`)));
  };
  const onRefusal = (listener: string) => (refusal: TlsRefusal) => {
    const source = refusal.remoteAddress ?? "unknown";
    config.log("warn", `${listener}: refused a TLS client from ${source}${refusal.serverName ? ` (SNI ${refusal.serverName})` : ""}: ${refusal.failure.cause}`);
    if (!refusalAudit.take(source).allowed) return;
    store.audit
      .append({ kind: "refused_tls", sourceAddress: source, detail: { listener, code: refusal.failure.code, cause: refusal.failure.cause, serverName: refusal.serverName ?? null, certificate: refusal.peerCertificate?.subject.replace(/\n/g, ", ") ?? null } })
      .catch((error: unknown) => config.log("error", `audit write failed: ${(error as Error).message}`));
  };
  const onError = (error: unknown) => config.log("error", `listener: ${error instanceof Error ? error.message : String(error)}`);
  const material = frontMaterial(tls);
  const policy = policies(tls, config);
  const httpsFront = new TlsFront({ material: material.https, policy: policy.https, handler, upgradeHandler, onRefusal: onRefusal("https"), onError });
  const tunnelFront = new TlsFront({ material: material.tunnel, policy: policy.tunnel, handler, upgradeHandler, onRefusal: onRefusal("tunnel"), onError });
  const httpsAddress = await httpsFront.listen(config.bindPort, config.bindHost);
  const tunnelAddress = await tunnelFront.listen(config.tunnelPort, config.bindHost);
  ports.https = httpsAddress.port;
  ports.tunnel = tunnelAddress.port;

  // The HTTPS front's reloader watches every file; the tunnel front follows it.
  const reloader = watchTlsMaterial({
    front: httpsFront,
    files,
    onReloaded: (material) => {
      tls = stateOf(material);
      tunnelFront.reload(frontMaterial(tls).tunnel);
      config.log("info", `TLS reloaded: ${describeTls(tls)}`);
    },
    onReloadFailed: (error) => config.log("error", `TLS reload refused, the previous certificates stay in force: ${error.message}`),
  });

  return {
    httpsAddress,
    tunnelAddress,
    store,
    edgeFingerprint: () => (tls.mtls ?? tls.main).spkiSha256,
    fleetEdgeKey: async (apiUrl) => encodeEdgeKey({ ...(await edgeEndpoint(new URL(apiUrl))), environmentId: 0 }),
    async close() {
      reloader.close();
      tunnels.closeAll();
      edge.closeAll();
      await Promise.all([httpsFront.close(), tunnelFront.close()]);
      await heartbeats.stop();
      await store.close();
    },
  };
}
