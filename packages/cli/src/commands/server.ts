import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { PkiError, leafLifetimeLimits, parseDuration } from "@pier/pki";
import { splitHostPort } from "@pier/protocol";
import { ProxySources, ServerError, createServerLog, logFormats, startServer, type LogFormat, type ServerConfig, type ServerLogLevel } from "@pier/server";
import { optionalInteger, parseCommand } from "../args.ts";
import { CliError, exitCodes } from "../errors.ts";
import type { Output } from "../output.ts";
import { clusterConfig, databaseLocation } from "./server-cluster.ts";

const usage = `Usage: pier server [options]

Options:
  --bind HOST:PORT          HTTPS listener (default 0.0.0.0:9443)
  --tunnel-port PORT        edge tunnel listener, TLS (default 8000)
  --data DIR                state directory (default: $PIER_DATA, else ./pier-data; /data in the image)
  --sslcert F --sslkey F    server certificate and key (default: from the built-in CA in DIR/ca)
  --sslcacert F             require a client certificate from this CA from everyone (blog mode)
  --sslcrl F                with --sslcacert: CRL(s) of that CA (PEM or DER, one per CA of the
                            file), enforced in the handshake and re-read when the file changes
  --mtlscacert F --mtlscert F --mtlskey F
                            separate mTLS domain for agents: connections for the names of
                            --mtlscert must present a client certificate from --mtlscacert
  --mtlscrl F               with --mtlscacert: CRL(s) of that CA, as --sslcrl; clients it lists
                            are refused and their open connections closed
  --edge-api-url URL        API URL new edge keys carry (default: the UI's host and bound port)
  --edge-tunnel-address H:P tunnel address new edge keys carry (default: the API's host, the
                            bound tunnel port); both for public ports other than the bound ones
                            (NodePort, docker run -p 443:9443). Settings → Edge Compute overrides.
  --admin-password-file F   create user admin with this password at first start; without it the
                            first admin needs the one-time token in DATA/admin-setup-token
  --ui-dir DIR              the built web UI to serve (default: $PIER_UI_DIR, else
                            packages/ui/dist of this checkout, or ui/ next to the bundle)
  --max-connections N       open connections over both listeners (default 20000); more are
                            closed at accept, with a warning in the log
  --max-connections-per-source N
                            open connections from one address, IPv6 one /64 (default 512;
                            devices behind one NAT share an address)
  --enrollment-rate N/PERIOD
                            new devices one address may enroll, PERIOD s, min or h
                            (default 10/min); more are refused with 429, known devices never
  --proxy-protocol-from CIDR,…
                            load balancers (addresses or CIDR blocks) whose connections to
                            the HTTPS and tunnel listeners begin with a PROXY header (v1 or
                            v2) naming the client, whose address then counts for every limit,
                            log and the Waiting Room; their connections without one are closed.
                            Others connect directly (default: $PIER_PROXY_PROTOCOL_FROM, else off)
  --waiting-room-max N      devices waiting for association (default 10000); new ones past
                            it are refused with 503
  --renewal-rate N          device certificate renewals the built-in CA issues per second
                            across the fleet (default 50); more are told to retry later (429
                            with Retry-After, spread over the backlog)
  --max-concurrent-handshakes N
                            TLS handshakes each listener runs at once (default 64, at most
                            10000); the next connections wait in order of arrival, up to
                            20000, then are closed at accept with a warning in the log
  --max-concurrent-hellos N hellos (session or check-in) handled at once (default 32, at most
                            10000); up to 2000 more wait, the next are told to retry within
                            60 s (refused "unavailable", or 503 with Retry-After)
  --device-cert-lifetime DURATION
                            lifetime of the device certificates the built-in CA issues, e.g.
                            90s, 15m, 12h, 30d (default: $PIER_DEVICE_CERT_LIFETIME, else 30d;
                            60s to 397d); agents renew at about two thirds of it
  --log-level LEVEL         debug, info (default), warn, error
  --log-format FORMAT       text (default): one line per event for people; json: one JSON
                            object per line (time, level, msg, replica, requestId in API
                            requests) for log collectors

Several replicas on one PostgreSQL (docs/architecture.md "Scale-out"):
  --database-url URL        postgres://USER:PASSWORD@HOST:PORT/DATABASE (default:
                            $PIER_DATABASE_URL; without it, SQLite in DIR/pier.db)
  --secret-file F           with --database-url, required: at least 32 random bytes, mode 0600,
                            the same file on every replica; encrypts the cluster's private keys
                            in the database (default: $PIER_SECRET_FILE)
  --peer-bind HOST:PORT     listener for the other replicas, mutual TLS (default 0.0.0.0:9445)
  --peer-address HOST:PORT  where the other replicas reach this one (default: $PIER_PEER_ADDRESS,
                            else the --peer-bind host if specific, else this host's name;
                            with the bound peer port)
  --replica-name NAME       this replica's name in logs and errors (default: the host name)`;

const levels: readonly ServerLogLevel[] = ["debug", "info", "warn", "error"];

function parseBind(text: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || !Number.isInteger(port) || port > 65535) throw new CliError("usage", `--bind needs HOST:PORT (e.g. 0.0.0.0:9443), got "${text}".`);
  return { host: match[1] || "0.0.0.0", port };
}

/** `--edge-api-url` and `--edge-tunnel-address`, checked as the edge-key API checks them. */
function parseEdgeAddresses(apiUrl: string | undefined, tunnelAddress: string | undefined): { apiUrl?: string; tunnelAddress?: string } | undefined {
  if (apiUrl === undefined && tunnelAddress === undefined) return undefined;
  if (apiUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(apiUrl);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== "https:" || url.pathname !== "/" || url.search !== "" || url.username !== "") {
      throw new CliError("usage", `--edge-api-url needs an https:// URL of the server, such as https://pier.example.com:30779 (agents never talk to Pier in plaintext), got "${apiUrl}".`);
    }
  }
  if (tunnelAddress !== undefined) {
    try {
      const { port } = splitHostPort(tunnelAddress);
      if (port < 1 || port > 65535) throw new Error("port");
    } catch {
      throw new CliError("usage", `--edge-tunnel-address needs HOST:PORT, such as pier.example.com:30776, got "${tunnelAddress}".`);
    }
  }
  return { ...(apiUrl === undefined ? {} : { apiUrl: apiUrl.replace(/\/$/, "") }), ...(tunnelAddress === undefined ? {} : { tunnelAddress }) };
}

function positive(value: string | undefined, flag: string): number | undefined {
  const number = optionalInteger(value, flag);
  if (number === 0) throw new CliError("usage", `${flag} needs a whole number of at least 1, got 0.`);
  return number;
}

/** The most `--max-concurrent-handshakes` and `--max-concurrent-hellos` accept: more is no bound at all. */
export const maxAdmissionConcurrency = 10_000;

function concurrency(value: string | undefined, flag: string): number | undefined {
  const number = positive(value, flag);
  if (number !== undefined && number > maxAdmissionConcurrency) throw new CliError("usage", `${flag} needs a whole number from 1 to ${maxAdmissionConcurrency}, got ${value}.`);
  return number;
}

const periods: Readonly<Record<string, number>> = { s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hour: 3_600_000 };

/**
 * `--enrollment-rate N/PERIOD` as a count per period in milliseconds.
 *
 * @example
 * parseEnrollmentRate("10/min"); // { count: 10, periodMs: 60000 }
 */
export function parseEnrollmentRate(text: string): { count: number; periodMs: number } {
  const match = /^(\d+)\/(\d*)\s*([a-z]+)$/.exec(text.trim());
  const count = Number(match?.[1]);
  const unit = periods[match?.[3] ?? ""];
  const multiple = match?.[2] ? Number(match[2]) : 1;
  if (!match || unit === undefined || !(count >= 1) || !(multiple >= 1)) {
    throw new CliError("usage", `--enrollment-rate needs N/PERIOD with PERIOD s, min or h (e.g. 10/min, 100/h), got "${text}".`);
  }
  return { count, periodMs: multiple * unit };
}

/** Default of `--device-cert-lifetime`: 30 days (docs/identity.md). */
export const defaultDeviceCertificateLifetime = "30d";

/**
 * `--device-cert-lifetime` (else `PIER_DEVICE_CERT_LIFETIME`, else 30d) in seconds, refused
 * outside 60 s … 397 days with a message naming the flag and the accepted forms. The test-only
 * `PIER_SERVER_TEST_SHORT_CERTS=1` lowers the floor to 10 s (the end-to-end tests' renewals and
 * expiries); any other value of it is refused.
 *
 * @example
 * deviceCertificateLifetime("12h", {}); // 43200
 */
export function deviceCertificateLifetime(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const fromEnvironment = env["PIER_DEVICE_CERT_LIFETIME"] || undefined;
  const text = flag ?? fromEnvironment ?? defaultDeviceCertificateLifetime;
  const source = flag === undefined && fromEnvironment !== undefined ? "PIER_DEVICE_CERT_LIFETIME" : "--device-cert-lifetime";
  let seconds: number;
  try {
    seconds = parseDuration(text, source);
  } catch (error) {
    if (error instanceof PkiError) throw new CliError("usage", error.message, { cause: error });
    throw error;
  }
  const { maxSeconds } = leafLifetimeLimits;
  const minSeconds = shortCertificatesForTests(env) ? leafLifetimeLimits.testMinSeconds : leafLifetimeLimits.minSeconds;
  if (seconds < minSeconds || seconds > maxSeconds) {
    throw new CliError("usage", `${source} must be between ${minSeconds}s and 397d (${minSeconds} to ${maxSeconds} seconds), got "${text}".`);
  }
  return seconds;
}

/** `PIER_SERVER_TEST_SHORT_CERTS` (test only): `1` or unset; anything else is refused at start. */
function shortCertificatesForTests(env: NodeJS.ProcessEnv): boolean {
  const value = env["PIER_SERVER_TEST_SHORT_CERTS"];
  if (value === undefined || value === "") return false;
  if (value === "1") return true;
  throw new CliError("usage", `PIER_SERVER_TEST_SHORT_CERTS (a test-only setting) must be 1 or unset, got "${value.slice(0, 16)}".`);
}

/**
 * The limit flags of `pier server`, as `ServerConfig` fields (absent flags keep the defaults).
 *
 * @example
 * serverLimits({ "renewal-rate": "20" }); // { renewalsPerSecond: 20, admission: {}, connections: {}, enrollment: {} }
 */
export function serverLimits(values: Record<string, string | boolean | undefined>): Pick<ServerConfig, "connections" | "enrollment" | "renewalsPerSecond" | "admission"> {
  const flag = (name: string) => (typeof values[name] === "string" ? values[name] : undefined);
  const maxTotal = positive(flag("max-connections"), "--max-connections");
  const maxPerSource = positive(flag("max-connections-per-source"), "--max-connections-per-source");
  const waitingRoomMax = positive(flag("waiting-room-max"), "--waiting-room-max");
  const rate = flag("enrollment-rate");
  const renewalsPerSecond = positive(flag("renewal-rate"), "--renewal-rate");
  const maxConcurrentHandshakes = concurrency(flag("max-concurrent-handshakes"), "--max-concurrent-handshakes");
  const maxConcurrentHellos = concurrency(flag("max-concurrent-hellos"), "--max-concurrent-hellos");
  return {
    admission: { ...(maxConcurrentHandshakes === undefined ? {} : { maxConcurrentHandshakes }), ...(maxConcurrentHellos === undefined ? {} : { maxConcurrentHellos }) },
    ...(renewalsPerSecond === undefined ? {} : { renewalsPerSecond }),
    connections: { ...(maxTotal === undefined ? {} : { maxTotal }), ...(maxPerSource === undefined ? {} : { maxPerSource }) },
    enrollment: { ...(rate === undefined ? {} : { perSource: parseEnrollmentRate(rate) }), ...(waitingRoomMax === undefined ? {} : { waitingRoomMax }) },
  };
}

/**
 * `--proxy-protocol-from` (else `PIER_PROXY_PROTOCOL_FROM`), checked: the balancers whose
 * connections carry a PROXY header; `undefined` when neither is set (off).
 *
 * @example
 * proxyProtocolSources("10.0.0.0/24,fd00::/64", {}); // "10.0.0.0/24,fd00::/64"
 */
export function proxyProtocolSources(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const text = flag ?? (env["PIER_PROXY_PROTOCOL_FROM"] || undefined);
  if (text === undefined) return undefined;
  const source = flag === undefined ? "PIER_PROXY_PROTOCOL_FROM" : "--proxy-protocol-from";
  try {
    ProxySources.parse(text, source);
  } catch (error) {
    if (error instanceof ServerError) throw new CliError("usage", error.fix ? `${error.message} ${error.fix}` : error.message, { cause: error });
    throw error;
  }
  return text;
}

const sourceDir = join("packages", "cli", "src", "commands");

/**
 * Where the built web UI is when `--ui-dir` is not given: `PIER_UI_DIR`, else `packages/ui/dist`
 * of the checkout this file is in, else (the CommonJS bundle `dist/pier/main.cjs`) `ui/` next
 * to the bundle's entry.
 *
 * @example
 * defaultUiDir(process.env, process.argv[1]); // "/src/pier/packages/ui/dist"
 */
export function defaultUiDir(env: NodeJS.ProcessEnv, entry: string | undefined): string {
  if (env["PIER_UI_DIR"]) return env["PIER_UI_DIR"];
  // In the CommonJS bundle import.meta.dirname is either undefined or (rolldown rewrites it)
  // the bundle's own __dirname: only the source layout means "this checkout".
  const here = import.meta.dirname as string | undefined;
  if (here !== undefined && here.endsWith(sourceDir)) return resolve(here, "../../../ui/dist");
  return join(dirname(resolve(entry ?? "main.cjs")), "ui");
}

/**
 * Where the agent's Helm chart is, which the server serves packaged at `/charts/…` (docs/deploy.md
 * "Kubernetes"): `PIER_AGENT_CHART_DIR`, else `deploy/helm/pier-agent` of this checkout, else
 * (the bundle, and the image's /opt/pier) `charts/pier-agent` next to the bundle's entry.
 *
 * @example
 * defaultAgentChartDir(process.env, process.argv[1]); // "/src/pier/deploy/helm/pier-agent"
 */
export function defaultAgentChartDir(env: NodeJS.ProcessEnv, entry: string | undefined): string {
  if (env["PIER_AGENT_CHART_DIR"]) return env["PIER_AGENT_CHART_DIR"];
  const here = import.meta.dirname as string | undefined;
  if (here !== undefined && here.endsWith(sourceDir)) return resolve(here, "../../../../deploy/helm/pier-agent");
  return join(dirname(resolve(entry ?? "main.cjs")), "charts", "pier-agent");
}

/** `--log-format`: `text` (default) or `json`. */
export function logFormat(flag: string | undefined): LogFormat {
  if (flag === undefined) return "text";
  const format = logFormats.find((name) => name === flag);
  if (format === undefined) throw new CliError("usage", `--log-format must be one of ${logFormats.join(", ")}, got "${flag.slice(0, 40)}".`);
  return format;
}

/** `pier server`: runs until SIGINT/SIGTERM. */
export async function serverCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseCommand("server", argv, {
    bind: { type: "string" },
    "tunnel-port": { type: "string" },
    data: { type: "string" },
    sslcert: { type: "string" },
    sslkey: { type: "string" },
    sslcacert: { type: "string" },
    mtlscacert: { type: "string" },
    mtlscert: { type: "string" },
    mtlskey: { type: "string" },
    mtlscrl: { type: "string" },
    sslcrl: { type: "string" },
    "edge-api-url": { type: "string" },
    "edge-tunnel-address": { type: "string" },
    "admin-password-file": { type: "string" },
    "ui-dir": { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    "max-connections": { type: "string" },
    "max-connections-per-source": { type: "string" },
    "enrollment-rate": { type: "string" },
    "waiting-room-max": { type: "string" },
    "proxy-protocol-from": { type: "string" },
    "renewal-rate": { type: "string" },
    "max-concurrent-handshakes": { type: "string" },
    "max-concurrent-hellos": { type: "string" },
    "device-cert-lifetime": { type: "string" },
    "database-url": { type: "string" },
    "secret-file": { type: "string" },
    "peer-bind": { type: "string" },
    "peer-address": { type: "string" },
    "replica-name": { type: "string" },
  });
  if (values.help) return out.help(usage);
  const level = (values["log-level"] ?? "info") as ServerLogLevel;
  if (!levels.includes(level)) throw new CliError("usage", `--log-level must be one of ${levels.join(", ")}.`);
  const format = logFormat(values["log-format"]);
  if ((values.sslcert === undefined) !== (values.sslkey === undefined)) throw new CliError("usage", "--sslcert and --sslkey go together.");
  const mtls = [values.mtlscacert, values.mtlscert, values.mtlskey];
  if (mtls.some((v) => v !== undefined) && !mtls.every((v) => v !== undefined)) throw new CliError("usage", "--mtlscacert, --mtlscert and --mtlskey go together.");
  if (values.mtlscrl !== undefined && values.mtlscacert === undefined) throw new CliError("usage", "--mtlscrl needs --mtlscacert (with --mtlscert and --mtlskey): a CRL is checked against the CA whose client certificates it revokes.");
  if (values.sslcrl !== undefined && values.sslcacert === undefined) throw new CliError("usage", "--sslcrl needs --sslcacert: a CRL is checked against the CA whose client certificates it revokes.");
  const bind = parseBind(values.bind ?? "0.0.0.0:9443");
  const tunnelPort = optionalInteger(values["tunnel-port"], "--tunnel-port") ?? 8000;
  const dataDir = values.data ?? (process.env["PIER_DATA"] || "pier-data");
  const edgeAddresses = parseEdgeAddresses(values["edge-api-url"], values["edge-tunnel-address"]);
  const deviceCertificateLifetimeSeconds = deviceCertificateLifetime(values["device-cert-lifetime"], process.env);
  const cluster = clusterConfig(values, process.env);
  const proxyProtocolFrom = proxyProtocolSources(values["proxy-protocol-from"], process.env);
  const log = createServerLog({ format, level, replica: cluster?.replicaName ?? hostname() });
  let server;
  try {
    server = await startServer({
      bindHost: bind.host,
      bindPort: bind.port,
      tunnelPort,
      dataDir,
      ...(values.sslcert || values.sslcacert ? { ssl: { ...(values.sslcert ? { certPath: values.sslcert } : {}), ...(values.sslkey ? { keyPath: values.sslkey } : {}), ...(values.sslcacert ? { caPath: values.sslcacert } : {}), ...(values.sslcrl ? { crlPath: values.sslcrl } : {}) } } : {}),
      ...(values.mtlscacert && values.mtlscert && values.mtlskey ? { mtls: { caPath: values.mtlscacert, certPath: values.mtlscert, keyPath: values.mtlskey, ...(values.mtlscrl ? { crlPath: values.mtlscrl } : {}) } } : {}),
      ...(edgeAddresses ? { edgeAddresses } : {}),
      ...(values["admin-password-file"] ? { adminPasswordFile: values["admin-password-file"] } : {}),
      uiDir: values["ui-dir"] ?? defaultUiDir(process.env, process.argv[1]),
      agentChartDir: defaultAgentChartDir(process.env, process.argv[1]),
      ...serverLimits(values),
      deviceCertificateLifetimeSeconds,
      ...(cluster ? { cluster } : {}),
      ...(proxyProtocolFrom === undefined ? {} : { proxyProtocolFrom }),
      log,
    });
  } catch (error) {
    if (error instanceof ServerError) throw new CliError("failed", `the server cannot start: ${error.message}`, { cause: error });
    throw error;
  }
  const shownHost = bind.host === "0.0.0.0" || bind.host === "::" ? "localhost" : bind.host;
  const apiUrl = `https://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${server.httpsAddress.port}`;
  log("info", `Pier server listening: HTTPS ${bind.host}:${server.httpsAddress.port} (UI and API), edge tunnel ${bind.host}:${server.tunnelAddress.port}; data in ${cluster ? `${databaseLocation(cluster.databaseUrl)}, files in ${dataDir}` : dataDir}`);
  log("info", `server key fingerprint (SPKI SHA-256, pinned by agents): ${server.edgeFingerprint()}`);
  log("info", `connect a first agent: EDGE=1 EDGE_ID=<unique id> EDGE_KEY=${await server.fleetEdgeKey(apiUrl)} npx pier agent --data ./agent-data`);
  log("info", "it will wait in the Waiting Room until associated: POST /api/endpoints/{id}/edge/trust (create the admin first: in the web UI or POST /api/users/admin/init with the setup token, see above)");
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const exitNow = (again: NodeJS.Signals) => {
    log("warn", `${again} during the graceful shutdown: exiting at once`);
    process.exit(exitCodes.failed);
  };
  process.once("SIGINT", exitNow);
  process.once("SIGTERM", exitNow);
  log("info", `${signal}: shutting down gracefully (a second signal exits at once)`);
  const drained = await server.drain();
  const left = drained.leftOpen > 0 ? `; ${drained.leftOpen} connection(s) still open after 5 s are closed now` : "";
  log("info", `told ${drained.told} device session(s) that the server is restarting, each to reconnect after a delay spread over ${drained.earliestSeconds}–${drained.earliestSeconds + drained.windowSeconds - 1} s${left}`);
  await server.close();
  log("info", "shut down");
  return exitCodes.ok;
}
