import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPort } from "./free-loopback-port.ts";

/** Where Debian's postgresql-15 puts its programs (scripts/ensure-tools.sh installs it). */
export const postgresBin = "/usr/lib/postgresql/15/bin";

/** A throwaway PostgreSQL on a loopback port, its data in a temporary directory. */
export interface PostgresServer extends AsyncDisposable {
  readonly port: number;
  /** `postgres://postgres:…@127.0.0.1:PORT/postgres`: the superuser, over TCP with a password. */
  readonly adminUrl: string;
  /** Creates database `name` (lower-case letters, digits, `_`) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Runs `sql` in `database` as the superuser (psql over the socket) and returns the rows, each a
   * list of text fields: for assertions on what the store wrote (which replica holds a session).
   */
  query(database: string, sql: string): string[][];
  /** Stops the server (fast shutdown: every connection is cut), waits `downtimeMs`, starts it again on the same port and data. */
  restart(downtimeMs?: number): Promise<void>;
  /** Everything the server printed so far (its log). */
  output(): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The system user the server runs as when we are root (PostgreSQL refuses to run as root). */
interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => {
    const result = spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`no postgres user to run PostgreSQL as (we are root): ${result.stderr.trim()}; run bash scripts/ensure-tools.sh`);
    return Number(result.stdout.trim());
  };
  return { uid: id("-u"), gid: id("-g") };
}

/** SQL identifiers the helper accepts: no quoting needed, nothing to inject. */
const databaseName = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Starts a PostgreSQL 15 for tests: `initdb` into a new temporary directory (owned by
 * `postgres`, 0700, when we are root), then `postgres` as a child process listening on
 * 127.0.0.1 at a free port, its socket inside that directory, `fsync=off` (a crash loses
 * nothing a test needs) and `max_connections=400` (several replicas' pools). The superuser
 * `postgres` has a random password over TCP (scram-sha-256) and trust on the socket.
 *
 * @example
 * await using pg = await startPostgres();
 * const url = await pg.createDatabase("replicas");
 */
export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(join(postgresBin, "initdb"))) throw new Error(`PostgreSQL 15 is not installed (${postgresBin}/initdb): run bash scripts/ensure-tools.sh`);
  const runAs = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), "pier-postgres-"));
  const dataDir = join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  let child: ChildProcess | undefined;
  let log = "";
  // Chosen after initdb: until its first await this function runs synchronously and spawns initdb.
  let port = 0;
  const asPostgres = runAs === undefined ? {} : { uid: runAs.uid, gid: runAs.gid };

  const start = async () => {
    const from = log.length;
    const spawned = spawn(
      join(postgresBin, "postgres"),
      // Loopback only, a socket nobody else shares, and durability traded for speed: the
      // database lives as long as the test run.
      ["-D", dataDir, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=64MB"],
      { ...asPostgres, cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = spawned;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`PostgreSQL did not accept connections within 30 s:\n${log}`)), 30_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("database system is ready to accept connections", from)) done();
      };
      const onExit = (code: number | null, signal: string | null) => fail(new Error(`PostgreSQL exited (${code ?? signal}) while starting:\n${log}`));
      const cleanup = () => {
        clearTimeout(timer);
        spawned.off("exit", onExit);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const fail = (error: Error) => {
        cleanup();
        reject(error);
      };
      spawned.stdout?.on("data", onData);
      spawned.stderr?.on("data", onData);
      spawned.once("exit", onExit);
    });
  };

  const halt = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    // SIGINT is PostgreSQL's fast shutdown: connections are ended, then a clean checkpoint.
    running.kill("SIGINT");
    const timer = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (runAs !== undefined) chownSync(dir, runAs.uid, runAs.gid);
    chmodSync(dir, 0o700);
    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs !== undefined) chownSync(passwordFile, runAs.uid, runAs.gid);
    mkdirSync(dataDir, { mode: 0o700 });
    if (runAs !== undefined) chownSync(dataDir, runAs.uid, runAs.gid);
    // Asynchronous, so the caller's other set-up (the global setup's seed certificates) overlaps it.
    const init = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const child = spawn(
        join(postgresBin, "initdb"),
        ["-D", dataDir, "-U", "postgres", `--pwfile=${passwordFile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
        { ...asPostgres, cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.once("error", reject);
      child.once("close", (status, signal) => resolve({ status: status ?? (signal === null ? null : -1), output }));
    });
    rmSync(passwordFile);
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}):\n${init.output}`);
    port = await freeLoopbackPort();
    await start();
  } catch (error) {
    await stop();
    throw error;
  }

  const urlOf = (database: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;
  return {
    port,
    adminUrl: urlOf("postgres"),
    createDatabase(name) {
      if (!databaseName.test(name)) return Promise.reject(new Error(`database name ${JSON.stringify(name)}: use lower-case letters, digits and _ (at most 63)`));
      const result = spawnSync(join(postgresBin, "psql"), ["-h", dir, "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", `CREATE DATABASE ${name}`], {
        ...asPostgres,
        cwd: dir,
        encoding: "utf8",
      });
      if (result.status !== 0) return Promise.reject(new Error(`CREATE DATABASE ${name} failed: ${result.stderr.trim()}`));
      return Promise.resolve(urlOf(name));
    },
    query(database, sql) {
      if (!databaseName.test(database)) throw new Error(`database name ${JSON.stringify(database)}: use lower-case letters, digits and _ (at most 63)`);
      const result = spawnSync(join(postgresBin, "psql"), ["-h", dir, "-p", String(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c", sql], {
        ...asPostgres,
        cwd: dir,
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`psql ${database}: ${sql}: ${result.stderr.trim()}`);
      return result.stdout
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => line.split("\t"));
    },
    async restart(downtimeMs = 0) {
      await halt();
      if (downtimeMs > 0) await new Promise((resolve) => setTimeout(resolve, downtimeMs));
      await start();
    },
    output: () => log,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
