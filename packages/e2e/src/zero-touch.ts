import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type EndpointView, PierApi } from "./pier-api.ts";
import { startPierAgent, startPierServer, type PierProcess, type PierServer } from "./pier-processes.ts";
import { type TempDir, tempDir } from "./temp-dir.ts";
import { until } from "./until.ts";

/** A server with its built-in CA and an API client logged in as admin. */
export interface BuiltInCaServer {
  readonly server: PierServer;
  readonly api: PierApi;
}

/**
 * An API client for the server whose data directory is `dir/data`, trusting its built-in CA as
 * `data/ca/ca.crt` holds it now (it changes when a CA rotation finishes).
 *
 * @example
 * api = builtInCaApi(server, dir);
 */
export function builtInCaApi(server: PierServer, dir: TempDir): PierApi {
  return new PierApi(`https://localhost:${server.httpsPort}`, { ca: readFileSync(dir.file("data/ca/ca.crt")) });
}

/**
 * Starts `pier server` with no certificate flags (the built-in CA, zero-touch enrollment) on
 * `dir/data`, the admin password written to `dir/admin-password` (0600); logs the admin in.
 * `options.env` adds to the server's environment (e.g. the test-only PIER_SERVER_TEST_SHORT_CERTS).
 *
 * @example
 * ({ server, api } = await startBuiltInCaServer(dir, password, ["--device-cert-lifetime", "30s"], { env: { PIER_SERVER_TEST_SHORT_CERTS: "1" } }));
 */
export async function startBuiltInCaServer(dir: TempDir, password: string, args: readonly string[] = [], options: { httpsPort?: number; tunnelPort?: number; env?: NodeJS.ProcessEnv; host?: string } = {}): Promise<BuiltInCaServer> {
  writeFileSync(dir.file("admin-password"), `${password}\n`, { mode: 0o600 });
  const server = await startPierServer({ dataDir: dir.file("data"), args: ["--admin-password-file", dir.file("admin-password"), ...args], ...options });
  const api = builtInCaApi(server, dir);
  await api.login("admin", password);
  return { server, api };
}

/** A built-in-CA server on a temporary directory of its own; dispose it to stop the server and remove the directory. */
export interface BuiltInCaFleet extends AsyncDisposable {
  readonly dir: TempDir;
  /** The server running now (the one `startAgain` started, after it). */
  readonly server: PierServer;
  /** A client of `server`, logged in as admin. */
  readonly api: PierApi;
  /**
   * Starts the server again on the same data and arguments, once the caller stopped it (on the
   * same ports when given); `server` and `api` are the new ones from then on.
   */
  startAgain(ports?: { httpsPort?: number; tunnelPort?: number }): Promise<BuiltInCaServer>;
}

/**
 * `startBuiltInCaServer` on a new temporary directory named after `name`: one server for a test
 * file, its agents' data directories under `dir`.
 *
 * @example
 * ({ dir, server, api } = fleet = await startBuiltInCaFleet("onboarding-default", password));
 */
export async function startBuiltInCaFleet(name: string, password: string, args: readonly string[] = []): Promise<BuiltInCaFleet> {
  const dir = tempDir(name);
  let current = await startBuiltInCaServer(dir, password, args).catch(async (error: unknown) => {
    await dir[Symbol.asyncDispose]();
    throw error;
  });
  return {
    dir,
    get server() {
      return current.server;
    },
    get api() {
      return current.api;
    },
    async startAgain(ports = {}) {
      current = await startBuiltInCaServer(dir, password, args, ports);
      return current;
    },
    async [Symbol.asyncDispose]() {
      await current.server.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** What `enrollZeroTouchAgent` leaves running. */
export interface EnrolledAgent {
  readonly agent: PierProcess;
  /** The environment's id (from the waiting room). */
  readonly id: number;
  /** `identity/current.crt` in the agent's data directory. */
  readonly certificatePath: string;
}

/**
 * Starts a zero-touch agent (`EDGE_ID`, the fleet EDGE_KEY, data in `dir/agent-<edgeId>`), trusts
 * it from the waiting room, and waits until it is connected holding its issued certificate. The
 * caller stops the agent.
 *
 * @example
 * const { agent, id, certificatePath } = await enrollZeroTouchAgent({ server, api, dir }, "edge-1");
 */
export async function enrollZeroTouchAgent(fleet: { server: PierServer; api: PierApi; dir: TempDir }, edgeId: string): Promise<EnrolledAgent> {
  const { api, dir } = fleet;
  const agent = startPierAgent({ edgeId, edgeKey: fleet.server.edgeKey, dataDir: dir.file(`agent-${edgeId}`) });
  try {
    const find = () => api.endpoint<EndpointView<{ Connected: boolean }>>(edgeId);
    const waiting = await until(
      `${edgeId} in the waiting room`,
      async () => {
        const endpoint = await find();
        return endpoint?.UserTrusted === false ? endpoint : undefined;
      },
      30_000,
    );
    const trusted = await api.call("POST", `/api/endpoints/${waiting.Id}/edge/trust`);
    if (trusted.status !== 204) throw new Error(`trusting ${edgeId} answered ${trusted.status}`);
    const certificatePath = dir.file(`agent-${edgeId}/identity/current.crt`);
    await until(`${edgeId} connected with its certificate`, async () => (existsSync(certificatePath) && (await find())?.Pier.Connected ? true : undefined), 30_000);
    return { agent, id: waiting.Id, certificatePath };
  } catch (error) {
    await agent.stop();
    throw error;
  }
}
