import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freeLoopbackPort, postgresBin, proxySource, startHaproxy, startPostgres, type Haproxy, type PostgresServer } from "@pier/e2e";
import type { FleetGroup } from "./fleet-group.ts";
import { createFleetPki, type FleetPki } from "./fleet-pki.ts";
import { ServerLoopDelay } from "./loop-delay.ts";
import { configureFleetSettings, httpsJson } from "./pier-admin.ts";
import type { NumberOption } from "./options.ts";
import { childrenOf } from "./process-tree.ts";
import { ServerProcess } from "./server-process.ts";

/**
 * The environment variable that names an existing PostgreSQL's superuser URL
 * (`postgres://postgres:…@127.0.0.1:PORT/postgres`): the cluster creates its own database in it
 * (and drops it at the end) instead of starting a PostgreSQL of its own. The end-to-end suite
 * passes its global one; an environment variable keeps the password off command lines.
 */
export const postgresUrlVariable = "PIER_BENCH_POSTGRES_URL";

/**
 * Agents one HAProxy carries here: about two file descriptors per connection, and this machine's
 * hard limit (ulimit -Hn) of 20,000 cannot be raised.
 */
const agentsPerBalancer = 9_500;

/** `--replicas N [--haproxy]` of a fleet benchmark. */
export interface ClusterChoice {
  /** Replicas on PostgreSQL; absent: one server on SQLite. */
  readonly replicas?: number;
  /** With replicas: the fleet through one HAProxy rather than each replica on its own port. */
  readonly haproxy: boolean;
}

/**
 * `--replicas N [--haproxy]` of a fleet benchmark, checked: N from `minReplicas` to 8, HAProxy
 * with two replicas or more and at most `agentsPerBalancer` agents. Throws with `usage`.
 */
export function clusterOptions(number: NumberOption, values: { readonly replicas?: string | undefined; readonly haproxy: boolean }, agents: number, minReplicas: number, usage: string): ClusterChoice {
  const replicas = values.replicas === undefined ? undefined : number("replicas", values.replicas, (n) => Number.isInteger(n) && n >= minReplicas && n <= 8, `an integer from ${minReplicas} to 8`);
  if (values.haproxy && (replicas ?? 0) < 2) throw new Error(`--haproxy needs --replicas 2 or more.\n${usage}`);
  if (values.haproxy && agents > agentsPerBalancer) throw new Error(`--haproxy carries at most ${agentsPerBalancer} agents here (HAProxy needs two file descriptors per agent and the hard limit is 20,000), got --agents ${agents}.\n${usage}`);
  return { ...(replicas === undefined ? {} : { replicas }), haproxy: values.haproxy };
}

/** What a run of a fleet against servers the benchmark starts itself is told (--replicas, --bare-node). */
export interface FleetRunOptions {
  readonly repoRoot: string;
  readonly workDir: string;
  readonly agents: number;
  readonly intervalSeconds: number;
  readonly rampSeconds: number;
  readonly processes: number;
  readonly connectGraceMs: number;
  readonly serverNodeOptions?: string;
  /** The command line to print. */
  readonly command: string;
  readonly progress: (message: string) => void;
}

/** What a --replicas run of bench/fleet-simulator.ts or bench/storm.ts is told. */
export interface ClusterRunOptions extends FleetRunOptions {
  readonly replicas: number;
  readonly balancer: boolean;
  /** Gets each resource as soon as it exists, so the caller can release it however the run ends. */
  readonly own: (resource: { cluster?: ReplicaCluster; fleet?: FleetGroup }) => void;
}

/** One replica of the cluster: a `pier server` process and its event-loop probe. */
export interface ClusterReplica {
  /** `--replica-name`: replica-0, replica-1, … */
  readonly name: string;
  /** Replaced when a benchmark restarts the replica (bench/fleet/cluster-storm.ts). */
  server: ServerProcess;
  readonly loopDelay: ServerLoopDelay;
}

/** What `startReplicaCluster` needs. */
export interface ReplicaClusterOptions {
  readonly repoRoot: string;
  /** A directory the cluster owns (data directories, secret, password, probe files). */
  readonly workDir: string;
  readonly pki: FleetPki;
  readonly replicas: number;
  /** The fleet's size: each replica's `--max-connections` holds its share (all of it behind the balancer) plus 1,000. */
  readonly agents: number;
  readonly intervalSeconds: number;
  /** HAProxy in front (TCP passthrough, PROXY protocol v2, round robin): agents dial it alone. */
  readonly balancer: boolean;
  /** NODE_OPTIONS for every replica besides the probe (e.g. --cpu-prof). */
  readonly serverNodeOptions?: string;
  readonly signal: AbortSignal;
  readonly progress: (message: string) => void;
  /** Gets the cluster as soon as it holds a process, so the caller can stop it if set-up fails. */
  readonly onCluster: (cluster: ReplicaCluster) => void;
}

/** psql against `url` (the password in PGPASSWORD, not on the command line): rows of text fields. */
function psql(url: string, sql: string): string[][] {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  const result = spawnSync(join(postgresBin, "psql"), [parsed.toString().replace(/^postgres:/, "postgresql:"), "-v", "ON_ERROR_STOP=1", "-AtqF", "\t", "-c", sql], {
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: password },
    timeout: 30_000,
  });
  if (result.status !== 0) throw new Error(`psql ${parsed.pathname}: ${sql}: ${(result.stderr || result.error?.message || "").trim()}`);
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split("\t"));
}

/**
 * Several `pier server` replicas on one PostgreSQL on this machine (docs/architecture.md
 * "Scale-out"), for the fleet benchmarks: each replica on its own tunnel port (agents spread over
 * them by the simulator), or all behind one HAProxy.
 *
 * @example
 * const cluster = await startReplicaCluster({ repoRoot, workDir, pki, replicas: 3, agents: 50_000, intervalSeconds: 5, balancer: false, signal, progress, onCluster });
 * cluster.agentPorts(); // [tunnel port of replica-0, replica-1, replica-2]
 * await cluster.stop();
 */
export class ReplicaCluster {
  readonly replicas: ClusterReplica[] = [];
  balancer: Haproxy | undefined;
  /** The PostgreSQL this cluster started (none when it was given one). */
  postgres: PostgresServer | undefined;
  /** The postmaster's pid when this cluster started it (its CPU includes the backends). */
  postmasterPid: number | undefined;
  databaseUrl = "";
  #adminUrl = "";
  #databaseName = "";

  /** Where agents dial: the balancer's tunnel port, or every replica's. */
  agentPorts(): number[] {
    return this.balancer ? [this.balancer.tunnelPort] : this.replicas.map((replica) => replica.server.tunnelPort);
  }

  /** HAProxy's pid, when there is one. */
  balancerPids(): number[] {
    return this.balancer ? childrenOf(process.pid, "haproxy") : [];
  }

  /** Sessions per replica name, from the session directory (`edge_sessions`). */
  sessionsPerReplica(): Map<string, number> {
    const rows = psql(this.databaseUrl, "SELECT r.name, count(*) FROM edge_sessions s JOIN replicas r ON r.id = s.replica_id GROUP BY r.name ORDER BY r.name");
    return new Map(rows.map(([name = "", count = "0"]) => [name, Number(count)]));
  }

  /** Everything the replicas printed last, for a failure report. */
  output(): string {
    return this.replicas.map((replica) => `${replica.name}:\n${replica.server.output().trim().split("\n").slice(-15).join("\n")}`).join("\n");
  }

  /** Stops the balancer, the replicas, then the database (or PostgreSQL itself when the cluster started it). */
  async stop(): Promise<void> {
    await this.balancer?.stop();
    this.balancer = undefined;
    await Promise.all(this.replicas.map((replica) => replica.server.stop()));
    if (this.postgres) await this.postgres.stop();
    else if (this.#databaseName) {
      try {
        psql(this.#adminUrl, `DROP DATABASE IF EXISTS ${this.#databaseName} WITH (FORCE)`);
      } catch {
        // Best effort: the suite's PostgreSQL is thrown away at its end anyway.
      }
    }
    this.postgres = undefined;
    this.#databaseName = "";
  }

  /** Last resort from an `exit` handler: synchronous. */
  killNow(): void {
    for (const replica of this.replicas) replica.server.killNow();
  }

  /**
   * Makes the cluster's database: in the PostgreSQL `PIER_BENCH_POSTGRES_URL` names, else in one
   * started here (stopped by `stop`). Called once, by `startReplicaCluster`.
   */
  async openDatabase(progress: (message: string) => void): Promise<void> {
    const given = process.env[postgresUrlVariable];
    if (given) {
      this.#adminUrl = given;
    } else {
      progress("starting PostgreSQL");
      this.postgres = await startPostgres();
      this.#adminUrl = this.postgres.adminUrl;
      this.postmasterPid = childrenOf(process.pid, "postgres")[0];
    }
    this.#databaseName = `pier_bench_${randomBytes(4).toString("hex")}`;
    psql(this.#adminUrl, `CREATE DATABASE ${this.#databaseName}`);
    const url = new URL(this.#adminUrl);
    url.pathname = `/${this.#databaseName}`;
    this.databaseUrl = url.toString();
  }
}

/**
 * The files replicas share, written in `workDir` (mode 0600): the admin password (`--admin-password-file`)
 * and the cluster secret (`--secret-file`: the same on every replica; it encrypts the shared private keys).
 */
export function writeClusterSecrets(workDir: string): { password: string; passwordFile: string; secretFile: string } {
  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(workDir, "admin-password");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const secretFile = join(workDir, "cluster-secret");
  writeFileSync(secretFile, randomBytes(48).toString("base64"), { mode: 0o600 });
  return { password, passwordFile, secretFile };
}

/** Waits until `port` serves the check-in interval and trust on first connect set on another replica. */
async function waitForSettings(port: number, ca: Buffer, password: string, intervalSeconds: number, signal: AbortSignal): Promise<void> {
  const login = await httpsJson({ port, ca, method: "POST", path: "/api/auth", body: { Username: "admin", Password: password } });
  const jwt = (login.body as { jwt?: unknown } | undefined)?.jwt;
  if (login.status !== 200 || typeof jwt !== "string") throw new Error(`POST /api/auth on 127.0.0.1:${port} answered ${login.status}`);
  const deadline = performance.now() + 15_000;
  let last = "";
  while (performance.now() < deadline) {
    const answer = await httpsJson({ port, ca, jwt, method: "GET", path: "/api/settings" });
    const body = answer.body as { EdgeAgentCheckinInterval?: unknown; TrustOnFirstConnect?: unknown } | undefined;
    if (answer.status === 200 && body?.EdgeAgentCheckinInterval === intervalSeconds && body.TrustOnFirstConnect === true) return;
    last = `${answer.status} ${JSON.stringify(body).slice(0, 200)}`;
    await sleep(100, undefined, { signal });
  }
  throw new Error(`the replica on 127.0.0.1:${port} did not serve the new settings within 15 s (last answer: ${last})`);
}

/**
 * Starts PostgreSQL (or a database in the one `PIER_BENCH_POSTGRES_URL` names), `replicas`
 * `pier server` processes together on it (each its own `--data`, ports, peer port and event-loop
 * probe; one `--secret-file`; operator mTLS with the fleet's certificates; the open-file limit
 * raised to the hard limit; `--log-level warn`), sets the check-in interval and trust on first
 * connect on replica-0, waits until every replica serves them, and with `balancer` starts HAProxy
 * in front (the replicas trust its PROXY header, so each agent keeps its own address and the
 * per-address limits their defaults).
 */
export async function startReplicaCluster(options: ReplicaClusterOptions): Promise<ReplicaCluster> {
  const { workDir, signal, progress } = options;
  const cluster = new ReplicaCluster();
  options.onCluster(cluster);
  await cluster.openDatabase(progress);
  signal.throwIfAborted();

  const { password, passwordFile, secretFile } = writeClusterSecrets(workDir);
  const balancerTunnelPort = options.balancer ? await freeLoopbackPort() : undefined;
  // Behind the balancer any replica may get the whole fleet (the other one killed).
  const maxConnections = (options.balancer ? options.agents : Math.ceil(options.agents / options.replicas)) + 1_000;

  progress(`starting ${options.replicas} replicas on PostgreSQL${options.balancer ? " behind HAProxy" : ""}`);
  // Together, as a roll-out starts them: they race for the cluster's first-start lock.
  for (let index = 0; index < options.replicas; index++) {
    const name = `replica-${index}`;
    const replicaDir = join(workDir, name);
    mkdirSync(replicaDir, { recursive: true, mode: 0o700 });
    const peerPort = await freeLoopbackPort();
    const loopDelay = new ServerLoopDelay(replicaDir, options.repoRoot);
    const server = await ServerProcess.spawn({
      repoRoot: options.repoRoot,
      dataDir: join(replicaDir, "data"),
      adminPasswordFile: passwordFile,
      mtls: options.pki.files,
      extraArgs: [
        "--database-url", cluster.databaseUrl,
        "--secret-file", secretFile,
        "--peer-bind", `127.0.0.1:${peerPort}`,
        "--peer-address", `127.0.0.1:${peerPort}`,
        "--replica-name", name,
        "--max-connections", String(maxConnections),
        ...(balancerTunnelPort === undefined ? [] : ["--edge-tunnel-address", `localhost:${balancerTunnelPort}`, "--proxy-protocol-from", `${proxySource}/32`]),
      ],
      raiseOpenFileLimit: true,
      nodeOptions: loopDelay.nodeOptions(options.serverNodeOptions),
      env: loopDelay.env(),
    });
    cluster.replicas.push({ name, server, loopDelay });
  }
  await Promise.all(cluster.replicas.map((replica) => replica.server.ready(90_000, signal)));
  const [first] = cluster.replicas;
  if (!first) throw new Error("no replica");
  const apiCa = (replica: ClusterReplica) => readFileSync(join(workDir, replica.name, "data", "ca", "ca.crt"));
  await configureFleetSettings({ port: first.server.httpsPort, ca: apiCa(first), password, intervalSeconds: options.intervalSeconds });
  await Promise.all(cluster.replicas.map((replica) => waitForSettings(replica.server.httpsPort, apiCa(replica), password, options.intervalSeconds, signal)));

  if (balancerTunnelPort !== undefined) {
    const backends = cluster.replicas.map((replica) => ({ httpsPort: replica.server.httpsPort, tunnelPort: replica.server.tunnelPort }));
    cluster.balancer = await startHaproxy(backends, { tunnelPort: balancerTunnelPort, maxConnections: options.agents + 100, sendProxy: true });
  }
  progress(
    `${cluster.replicas.map((replica) => `${replica.name} pid ${replica.server.pid} tunnel ${replica.server.tunnelPort} (open-file limit ${replica.server.openFileLimit() ?? "unknown"})`).join("; ")}${cluster.balancer ? `; HAProxy tunnel ${cluster.balancer.tunnelPort}` : ""}; check-in interval ${options.intervalSeconds} s`,
  );
  return cluster;
}

/** A cluster benchmark's replicas and the fleet's PKI, with how long each took. */
export interface FleetCluster {
  readonly pki: FleetPki;
  readonly cluster: ReplicaCluster;
  readonly certificatesSeconds: number;
  readonly serverStartSeconds: number;
}

/**
 * Issues the fleet's certificates (EDGE_ID `<edgeIdPrefix>-<random>-<n>`) in the run's work
 * directory and starts the replica cluster with them (`startReplicaCluster`), handing the
 * cluster to `options.own` as soon as it exists.
 */
export async function startFleetCluster(options: ClusterRunOptions, edgeIdPrefix: string, signal: AbortSignal): Promise<FleetCluster> {
  const { progress } = options;
  progress(`issuing ${options.agents} client certificates`);
  let started = performance.now();
  const pki = await createFleetPki(join(options.workDir, "pki"), options.agents, `${edgeIdPrefix}-${randomBytes(3).toString("hex")}`);
  const certificatesSeconds = (performance.now() - started) / 1000;
  signal.throwIfAborted();

  started = performance.now();
  const cluster = await startReplicaCluster({
    repoRoot: options.repoRoot,
    workDir: options.workDir,
    pki,
    replicas: options.replicas,
    agents: options.agents,
    intervalSeconds: options.intervalSeconds,
    balancer: options.balancer,
    ...(options.serverNodeOptions ? { serverNodeOptions: options.serverNodeOptions } : {}),
    signal,
    progress,
    onCluster: (cluster) => options.own({ cluster }),
  });
  return { pki, cluster, certificatesSeconds, serverStartSeconds: (performance.now() - started) / 1000 };
}
