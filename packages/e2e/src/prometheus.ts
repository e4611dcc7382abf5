import { spawnTool } from "./tool-process.ts";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPort } from "./free-loopback-port.ts";

/** Debian's Prometheus (the `prometheus` package, scripts/ensure-tools.sh). */
export const prometheusBinary = "/usr/bin/prometheus";

/** A Pier server for Prometheus to scrape over TLS with an access token. */
export interface PierScrapeTarget {
  /** `HOST:PORT` of the HTTPS listener. */
  readonly address: string;
  /** PEM file of the CA that issued the server certificate. */
  readonly caFile: string;
  /** File holding the access token (Prometheus sends it as `Authorization: Bearer`). */
  readonly tokenFile: string;
  /** The name to verify the server certificate against (default: the address's host). */
  readonly serverName?: string;
}

/** A running Prometheus, a child of the test. */
export interface Prometheus extends AsyncDisposable {
  readonly port: number;
  /** The configuration it runs with. */
  readonly config: string;
  /** An instant query's vector through `/api/v1/query`, as label sets and numbers. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  /** Its own log. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The scrape configuration of one Pier server, as docs/deploy.md shows it: HTTPS, the CA file,
 * the token as a bearer from a file; every `intervalSeconds`.
 *
 * @example
 * prometheusConfig({ address: "127.0.0.1:9443", caFile: "/etc/pier/ca.crt", tokenFile: "/etc/prometheus/pier.token" }, 1);
 */
export function prometheusConfig(target: PierScrapeTarget, intervalSeconds: number): string {
  return [
    "global:",
    `  scrape_interval: ${intervalSeconds}s`,
    `  scrape_timeout: ${intervalSeconds}s`,
    "scrape_configs:",
    "  - job_name: pier",
    "    scheme: https",
    "    metrics_path: /metrics",
    "    tls_config:",
    `      ca_file: ${target.caFile}`,
    ...(target.serverName === undefined ? [] : [`      server_name: ${target.serverName}`]),
    "    authorization:",
    "      type: Bearer",
    `      credentials_file: ${target.tokenFile}`,
    "    static_configs:",
    `      - targets: ["${target.address}"]`,
    "",
  ].join("\n");
}

/**
 * Starts Prometheus on a free loopback port with a storage directory of its own, scraping
 * `target` every second, and waits until it is ready.
 *
 * @example
 * await using prometheus = await startPrometheus({ address: `127.0.0.1:${server.httpsPort}`, caFile, tokenFile, serverName: "localhost" });
 * await prometheus.query("pier_agents_connected");
 */
export async function startPrometheus(target: PierScrapeTarget): Promise<Prometheus> {
  if (!existsSync(prometheusBinary)) throw new Error(`Prometheus is not installed (${prometheusBinary}): run bash scripts/ensure-tools.sh`);
  const port = await freeLoopbackPort();
  const dir = mkdtempSync(join(tmpdir(), "pier-prometheus-"));
  const config = prometheusConfig(target, 1);
  writeFileSync(join(dir, "prometheus.yml"), config);
  const tool = spawnTool(prometheusBinary, [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], dir);
  const { stop, output } = tool;
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 15_000;
    while (!(await fetch(`${base}/-/ready`).then((r) => r.ok, () => false))) {
      const exited = tool.exitStatus();
      if (exited !== undefined) throw new Error(`prometheus exited (${exited}):\n${output()}\n${config}`);
      if (Date.now() > deadline) throw new Error(`prometheus was not ready on ${port} within 15 s:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    config,
    async query(promql) {
      const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const answer = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (answer.status !== "success" || answer.data?.resultType !== "vector") throw new Error(`query ${promql} failed: ${answer.error ?? JSON.stringify(answer)}`);
      return answer.data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
    },
    output,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
