import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "@pier/pki";
import { type RunningServer, startServer } from "../server.ts";
import type { TempDir } from "../store/temp-dir.testkit.ts";
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
