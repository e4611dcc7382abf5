/** The parts of `GET /containers/{id}/json` the details drawer shows. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  State: { Status: string; Running: boolean; Paused: boolean; ExitCode: number; StartedAt: string; Error?: string };
  Config: { Image: string; Cmd: string[] | null; Entrypoint: string[] | null; Env: string[] | null; WorkingDir: string; User: string; Tty: boolean; Labels: Record<string, string> | null };
  HostConfig: { RestartPolicy?: { Name: string }; PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
  Mounts: { Type: string; Source: string; Destination: string; RW: boolean; Name?: string }[];
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Gateway: string; MacAddress: string }> | null };
}

/** The parts of `GET /containers/{id}/stats?stream=false` the drawer reads. */
export interface ContainerStatsAnswer {
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** One sample as the drawer shows it. */
export interface ContainerStats {
  /** When Docker read it. */
  read: string;
  /** CPU use as `docker stats` computes it (100 % = one core), `undefined` without a previous sample. */
  cpuPercent: number | undefined;
  /** Memory in use without the page cache, as `docker stats` shows it. */
  memoryBytes: number | undefined;
  memoryLimitBytes: number | undefined;
  /** Network totals over every interface; `undefined` when the container has none (`--network none`). */
  rxBytes: number | undefined;
  txBytes: number | undefined;
}

/**
 * Turns a Docker stats answer into the drawer's numbers, with the docker CLI's formulas: CPU
 * is the container's share of the host's CPU time between the two samples times the CPUs, and
 * memory leaves out the inactive page cache (cgroup v2 `inactive_file`, v1 `total_inactive_file`).
 *
 * @example
 * const stats = containerStats(await api("GET", dockerPath(1, "containers/web/stats?stream=false")));
 */
export function containerStats(answer: ContainerStatsAnswer): ContainerStats {
  const cpuDelta = answer.cpu_stats.cpu_usage.total_usage - answer.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (answer.cpu_stats.system_cpu_usage ?? 0) - (answer.precpu_stats.system_cpu_usage ?? 0);
  const cpus = answer.cpu_stats.online_cpus ?? answer.cpu_stats.cpu_usage.percpu_usage?.length ?? 1;
  const cpuPercent = systemDelta > 0 && answer.precpu_stats.system_cpu_usage ? (cpuDelta / systemDelta) * cpus * 100 : undefined;
  const stats = answer.memory_stats.stats ?? {};
  const cache = stats.inactive_file ?? stats.total_inactive_file ?? 0;
  const usage = answer.memory_stats.usage;
  const networks = answer.networks ? Object.values(answer.networks) : [];
  return {
    read: answer.read,
    cpuPercent,
    memoryBytes: usage === undefined ? undefined : Math.max(0, usage - cache),
    memoryLimitBytes: answer.memory_stats.limit,
    rxBytes: networks.length === 0 ? undefined : networks.reduce((sum, network) => sum + network.rx_bytes, 0),
    txBytes: networks.length === 0 ? undefined : networks.reduce((sum, network) => sum + network.tx_bytes, 0),
  };
}

/** Variable names whose values are secrets: shown masked until revealed. */
const secretName = /secret|passw|token|key|credential|private/i;

/** One environment variable, split, and whether its value is masked by default. */
export interface EnvEntry {
  name: string;
  value: string;
  secret: boolean;
}

/**
 * Splits `NAME=value` entries and marks those whose name says secret, password, token, key…
 *
 * @example
 * envEntries(["PATH=/bin", "DB_PASSWORD=x"]); // [{name: "PATH", …, secret: false}, {name: "DB_PASSWORD", …, secret: true}]
 */
export function envEntries(env: readonly string[] | null): EnvEntry[] {
  return (env ?? []).map((entry) => {
    const at = entry.indexOf("=");
    const name = at < 0 ? entry : entry.slice(0, at);
    return { name, value: at < 0 ? "" : entry.slice(at + 1), secret: secretName.test(name) };
  });
}
