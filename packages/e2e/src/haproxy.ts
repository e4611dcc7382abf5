import { spawnTool } from "./tool-process.ts";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptsOnLoopback, freeLoopbackPort } from "./free-loopback-port.ts";

/** Debian's haproxy (scripts/ensure-tools.sh installs it). */
export const haproxyBinary = "/usr/sbin/haproxy";

/** One server process behind the balancer: its two loopback ports. */
export interface BalancedBackend {
  readonly httpsPort: number;
  readonly tunnelPort: number;
}

/** HAProxy running in the foreground in front of several Pier servers. */
export interface Haproxy extends AsyncDisposable {
  /** The balancer's HTTPS port (TCP passthrough to the servers' HTTPS listeners). */
  readonly httpsPort: number;
  /** The balancer's tunnel port (TCP passthrough to the servers' tunnel listeners). */
  readonly tunnelPort: number;
  /** The configuration it runs with. */
  readonly config: string;
  /** Everything HAProxy printed so far (health-check transitions, warnings). */
  output(): string;
  stop(): Promise<void>;
}

/** The loopback address HAProxy connects to the servers from with `sendProxy`: list it in `--proxy-protocol-from`. */
export const proxySource = "127.0.0.100";

/** How HAProxy balances, and whether it sends the PROXY protocol. */
export interface HaproxyOptions {
  readonly balance?: "roundrobin" | "leastconn";
  /** HAProxy's maxconn, global and per frontend. */
  readonly maxConnections?: number;
  /** `send-proxy-v2` (the servers need `--proxy-protocol-from` with HAProxy's address). */
  readonly sendProxy?: boolean;
  /** `source`: the address HAProxy connects to the servers from; `startHaproxy` uses `proxySource` with `sendProxy`. */
  readonly sourceAddress?: string;
}

/**
 * The configuration: TCP mode (TLS ends in the servers, so mTLS and the `EDGE_KEY` pin are
 * untouched), one frontend and backend per listener, round robin, and a TCP connect check
 * every 500 ms that takes a server out after 2 failures and back after 1 success (a killed
 * replica leaves the rotation within about a second; a connection refused before that is
 * redispatched to another server). Long timeouts: edge sessions idle
 * between heartbeats.
 *
 * `sendProxy`: every connection to a server begins with a PROXY v2 header naming the client
 * (`send-proxy-v2`; health checks send one too, `check-send-proxy`, as LOCAL). `sourceAddress`:
 * the address HAProxy connects to the servers from (`source`).
 */
export function haproxyConfig(
  ports: { httpsPort: number; tunnelPort: number },
  backends: readonly BalancedBackend[],
  options: HaproxyOptions = {},
): string {
  const balance = options.balance ?? "roundrobin";
  // Without maxconn HAProxy derives it from the file-descriptor limit (ulimit -n).
  const maxconn = options.maxConnections === undefined ? "" : `  maxconn ${options.maxConnections}\n`;
  const proxy = `${options.sendProxy === true ? " send-proxy-v2 check-send-proxy" : ""}${options.sourceAddress === undefined ? "" : ` source ${options.sourceAddress}`}`;
  const servers = (listener: keyof BalancedBackend) => backends.map((backend, index) => `  server replica${index} 127.0.0.1:${backend[listener]} check inter 500ms fall 2 rise 1${proxy}`).join("\n");
  return `global
${maxconn}  log stderr format short local0 notice

defaults
${maxconn}  mode tcp
  log global
  option dontlognull
  # A connection refused by a replica not yet marked down is retried on another one.
  retries 2
  option redispatch 1
  timeout connect 2s
  timeout client 1h
  timeout server 1h

frontend https
  bind 127.0.0.1:${ports.httpsPort}
  default_backend https_replicas

backend https_replicas
  balance ${balance}
${servers("httpsPort")}

frontend tunnel
  bind 127.0.0.1:${ports.tunnelPort}
  default_backend tunnel_replicas

backend tunnel_replicas
  balance ${balance}
${servers("tunnelPort")}
`;
}

/**
 * Starts HAProxy (`-db`: foreground, a child of the test) in front of `backends` on the given
 * or free loopback ports, and waits until both frontends accept connections. `maxConnections`
 * (HAProxy's maxconn, global and per frontend) must fit the file-descriptor limit (about 2 per
 * connection); by default HAProxy derives it from that limit.
 *
 * @example
 * await using balancer = await startHaproxy([{ httpsPort: a.httpsPort, tunnelPort: a.tunnelPort }, …]);
 */
export async function startHaproxy(
  backends: readonly BalancedBackend[],
  options: HaproxyOptions & { httpsPort?: number; tunnelPort?: number } = {},
): Promise<Haproxy> {
  if (!existsSync(haproxyBinary)) throw new Error(`HAProxy is not installed (${haproxyBinary}): run bash scripts/ensure-tools.sh`);
  const ports = { httpsPort: options.httpsPort ?? (await freeLoopbackPort()), tunnelPort: options.tunnelPort ?? (await freeLoopbackPort()) };
  const dir = mkdtempSync(join(tmpdir(), "pier-haproxy-"));
  // From 127.0.0.100, so clients reaching a server directly from 127.0.0.1 stay direct clients.
  const config = haproxyConfig(ports, backends, options.sendProxy === true && options.sourceAddress === undefined ? { ...options, sourceAddress: proxySource } : options);
  const configPath = join(dir, "haproxy.cfg");
  writeFileSync(configPath, config);
  const tool = spawnTool(haproxyBinary, ["-db", "-f", configPath], dir);
  const { stop, output } = tool;
  try {
    const deadline = Date.now() + 10_000;
    while (!((await acceptsOnLoopback(ports.httpsPort)) && (await acceptsOnLoopback(ports.tunnelPort)))) {
      const exited = tool.exitStatus();
      if (exited !== undefined) throw new Error(`haproxy exited (${exited}):\n${output()}\n${config}`);
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${ports.httpsPort} and ${ports.tunnelPort} within 10 s:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...ports, config, output, stop, [Symbol.asyncDispose]: stop };
}
