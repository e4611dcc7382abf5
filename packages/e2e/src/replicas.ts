import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freeLoopbackPort } from "./free-loopback-port.ts";
import { proxySource, startHaproxy, type Haproxy } from "./haproxy.ts";
import { PierApi } from "./pier-api.ts";
import { startPierServer, type PierServer } from "./pier-processes.ts";

/** One replica's fixed place: ports kept across restarts, so the balancer's configuration holds. */
export interface ReplicaSlot {
  readonly index: number;
  /** `--replica-name`: `replica-0`, `replica-1`, … */
  readonly name: string;
  readonly httpsPort: number;
  readonly tunnelPort: number;
  /** `--peer-bind 127.0.0.1:PORT`, also given as `--peer-address`. */
  readonly peerPort: number;
  /** Its own `--data`. */
  readonly dataDir: string;
  /** `https://localhost:HTTPS_PORT`: the replica itself, past the balancer. */
  readonly url: string;
}

/** Several `pier server` processes on one PostgreSQL database, behind HAProxy. */
export interface ReplicaSet extends AsyncDisposable {
  readonly slots: readonly ReplicaSlot[];
  readonly balancer: Haproxy;
  /** `https://localhost:BALANCER_PORT`: what operators and agents use. */
  readonly url: string;
  /** The fleet `EDGE_KEY` (it names the balancer's ports, whichever replica printed it). */
  readonly edgeKey: string;
  readonly databaseUrl: string;
  readonly secretFile: string;
  /** The running process of replica `index` (throws when it is not running). */
  server(index: number): PierServer;
  /** Whether replica `index` runs now. */
  running(index: number): boolean;
  /** The CA every replica serves (the cluster's built-in CA), for API clients. */
  ca(): Buffer;
  /** An API client for the balancer (default) or one replica, logged in when `login` was called on the set. */
  api(index?: number): PierApi;
  /** Logs the admin in through the balancer; later `api()` clients carry that session. */
  login(username?: string, password?: string): Promise<PierApi>;
  /** Sends `signal` (default SIGKILL) to replica `index` and waits for it to exit. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** (Re)starts replica `index` on its ports and data. */
  start(index: number): Promise<PierServer>;
  stop(): Promise<void>;
}

/** Options of `startReplicas`. */
export interface ReplicaSetOptions {
  /** A directory the set owns (data directories, the secret and password files). */
  readonly dir: string;
  /** A fresh database for this set (`PostgresServer.createDatabase`). */
  readonly databaseUrl: string;
  /** How many replicas (default 2). */
  readonly count?: number;
  /** Written to `dir/admin-password` and given to every replica as `--admin-password-file` (default: none, the setup-token flow). */
  readonly adminPassword?: string;
  /** More `pier server` flags for every replica. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts `count` replicas together (so they race for the cluster's first-start lock, as in a
 * real roll-out), each with its own `--data`, ports and peer port, all with the same
 * `--database-url` and `--secret-file`; then HAProxy in front of them, sending the PROXY
 * protocol (`--proxy-protocol-from`), so the replicas see each client's own address. New edge
 * keys name the balancer (`--edge-api-url`, `--edge-tunnel-address`), so agents connect through it.
 *
 * @example
 * await using replicas = await startReplicas({ dir: dir.path, databaseUrl: await pg.createDatabase("replicas"), adminPassword: password });
 * const api = await replicas.login();
 */
export async function startReplicas(options: ReplicaSetOptions): Promise<ReplicaSet> {
  const count = options.count ?? 2;
  const secretFile = join(options.dir, "cluster-secret");
  writeFileSync(secretFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  const passwordFile = join(options.dir, "admin-password");
  if (options.adminPassword !== undefined) writeFileSync(passwordFile, `${options.adminPassword}\n`, { mode: 0o600 });
  const balancerPorts = { httpsPort: await freeLoopbackPort(), tunnelPort: await freeLoopbackPort() };
  const slots: ReplicaSlot[] = [];
  for (let index = 0; index < count; index++) {
    const httpsPort = await freeLoopbackPort();
    const dataDir = join(options.dir, `replica-${index}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    slots.push({ index, name: `replica-${index}`, httpsPort, tunnelPort: await freeLoopbackPort(), peerPort: await freeLoopbackPort(), dataDir, url: `https://localhost:${httpsPort}` });
  }
  const processes = new Map<number, PierServer>();
  const slotOf = (index: number): ReplicaSlot => {
    const slot = slots[index];
    if (slot === undefined) throw new Error(`no replica ${index} (the set has ${slots.length})`);
    return slot;
  };

  const start = async (index: number): Promise<PierServer> => {
    const slot = slotOf(index);
    if (processes.has(index)) throw new Error(`replica ${index} is already running`);
    const server = await startPierServer({
      dataDir: slot.dataDir,
      httpsPort: slot.httpsPort,
      tunnelPort: slot.tunnelPort,
      startTimeoutMs: 60_000,
      args: [
        "--database-url",
        options.databaseUrl,
        "--secret-file",
        secretFile,
        "--peer-bind",
        `127.0.0.1:${slot.peerPort}`,
        "--peer-address",
        `127.0.0.1:${slot.peerPort}`,
        "--replica-name",
        slot.name,
        "--edge-api-url",
        `https://localhost:${balancerPorts.httpsPort}`,
        "--edge-tunnel-address",
        `localhost:${balancerPorts.tunnelPort}`,
        // HAProxy speaks the PROXY protocol from proxySource: clients keep their own addresses.
        "--proxy-protocol-from",
        `${proxySource}/32`,
        ...(options.adminPassword === undefined ? [] : ["--admin-password-file", passwordFile]),
        ...(options.args ?? []),
      ],
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    processes.set(index, server);
    return server;
  };

  const stopAll = async () => {
    await Promise.all([...processes.values()].map((server) => server.stop()));
    processes.clear();
  };

  let balancer: Haproxy;
  let edgeKey: string;
  try {
    const started = await Promise.all(slots.map((slot) => start(slot.index)));
    edgeKey = started[0]?.edgeKey ?? "";
    balancer = await startHaproxy(slots, { ...balancerPorts, sendProxy: true });
  } catch (error) {
    await stopAll();
    throw error;
  }

  let jwtHolder: PierApi | undefined;
  const ca = () => readFileSync(join(slotOf(0).dataDir, "ca", "ca.crt"));
  const url = `https://localhost:${balancer.httpsPort}`;
  const api = (index?: number) => {
    const base = index === undefined ? url : slotOf(index).url;
    return jwtHolder === undefined ? new PierApi(base, { ca: ca() }) : jwtHolder.at(base);
  };

  const stop = async () => {
    await balancer.stop();
    await stopAll();
  };

  return {
    slots,
    balancer,
    url,
    edgeKey,
    databaseUrl: options.databaseUrl,
    secretFile,
    server(index) {
      const server = processes.get(index);
      if (server === undefined) throw new Error(`replica ${index} is not running`);
      return server;
    },
    running: (index) => processes.has(index),
    ca,
    api,
    async login(username = "admin", password = options.adminPassword ?? "") {
      const client = new PierApi(url, { ca: ca() });
      await client.login(username, password);
      jwtHolder = client;
      return client;
    },
    async kill(index, signal = "SIGKILL") {
      const server = processes.get(index);
      if (server === undefined) return;
      processes.delete(index);
      const child = server.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(signal);
      await exited;
    },
    start,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
