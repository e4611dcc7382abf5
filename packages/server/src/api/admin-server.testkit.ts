import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { type RunningServer, type ServerConfig, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { type ApiClient, apiClient } from "./api-client.testkit.ts";

/**
 * Starts a real server on loopback (ephemeral ports, its built-in CA, data in `dir/data`) whose
 * admin password is `password`, and an API client trusting that CA, logged in as admin. The
 * caller closes the server.
 *
 * @example
 * ({ server, api } = await startAdminServer(dir, password));
 */
export async function startAdminServer(dir: TempDir, password: string, log: Parameters<typeof startServer>[0]["log"] = () => undefined): Promise<{ server: RunningServer; api: ApiClient }> {
  writeFileSync(dir.file("admin-password"), password);
  const server = await startServer({ bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir: dir.file("data"), adminPasswordFile: dir.file("admin-password"), log });
  const api = apiClient(() => server.httpsAddress.port, CertificateAuthority.open(join(dir.file("data"), "ca")).certificatePem);
  await api.login("admin", password);
  return { server, api };
}

/** A real server whose HTTPS certificate chains to a CA made for the test, with its scratch files. */
export interface TestCaServer extends AsyncDisposable {
  readonly pki: TestPki;
  /** The CA the server certificate (for 127.0.0.1) chains to. */
  readonly ca: TestCa;
  /** The scratch directory: the server's data in `data`, its admin password in `admin-password`. */
  readonly dir: TempDir;
  readonly server: RunningServer;
  /** An API client trusting `ca`, not logged in. */
  readonly api: ApiClient;
}

/**
 * Starts a real server on loopback (ephemeral ports, data in `dir/data`) behind a certificate of
 * a fresh test CA. With `adminPassword` the admin logs in with it; `config` adds server options
 * (and may write files into `dir` first). Dispose it to close the server and remove its files.
 *
 * @example
 * ({ ca, server, api } = started = await startTestCaServer("ui", { config: (dir) => ({ uiDir: dir.file("dist") }) }));
 */
export async function startTestCaServer(
  prefix: string,
  options: { readonly adminPassword?: string; readonly log?: ServerConfig["log"]; readonly config?: (dir: TempDir) => Partial<ServerConfig> } = {},
): Promise<TestCaServer> {
  const pki = createTestPki();
  const ca = await pki.createCa("Pier test CA");
  const credential = await pki.issue(ca, "server", uiServerRequest());
  const dir = tempDir(prefix);
  if (options.adminPassword !== undefined) writeFileSync(dir.file("admin-password"), options.adminPassword);
  const removeFiles = async () => {
    await dir[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  };
  const server = await startServer({
    bindHost: "127.0.0.1",
    bindPort: 0,
    tunnelPort: 0,
    dataDir: dir.file("data"),
    ssl: { certPath: credential.certPath, keyPath: credential.keyPath },
    ...(options.adminPassword === undefined ? {} : { adminPasswordFile: dir.file("admin-password") }),
    log: options.log ?? (() => undefined),
    ...options.config?.(dir),
  }).catch(async (error: unknown) => {
    await removeFiles();
    throw error;
  });
  return {
    pki,
    ca,
    dir,
    server,
    api: apiClient(() => server.httpsAddress.port, ca.pem),
    async [Symbol.asyncDispose]() {
      await server.close();
      await removeFiles();
    },
  };
}
