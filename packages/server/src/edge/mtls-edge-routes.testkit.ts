import type { Store } from "../store/index.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { EdgeService } from "./edge-service.ts";
import { type EdgeListener, listenEdgeRoutes } from "./edge-listener.testkit.ts";
import { TunnelBroker } from "./tunnel-broker.ts";

/** The edge routes behind mutual TLS on loopback, on a store of their own; dispose to stop and remove everything. */
export interface MtlsEdgeRoutes extends AsyncDisposable {
  readonly pki: TestPki;
  /** The CA of the server certificate and of the client certificates the listener accepts. */
  readonly ca: TestCa;
  readonly store: SqliteStore;
  readonly edge: EdgeService;
  readonly listener: EdgeListener;
  /** What the edge routes logged, as "level: message". */
  readonly logs: string[];
}

/**
 * Starts the edge routes requiring a client certificate from a fresh test CA, new devices
 * trusted on first connect; `wrapStore` gives the edge service a store that fails on demand
 * (a full disk, an unreachable database) while the fixture keeps the real one.
 *
 * @example
 * const routes = await startMtlsEdgeRoutes("session-expiry");
 * await TestAgent.connect({ port: routes.listener.port, ca: routes.ca.pem, cert, key, edgeId: "device-1" });
 */
export async function startMtlsEdgeRoutes(name: string, wrapStore: (store: SqliteStore) => Store = (store) => store): Promise<MtlsEdgeRoutes> {
  const pki = createTestPki();
  const dir: TempDir = tempDir(name);
  const ca = await pki.createCa("Pier test CA");
  const server = await pki.issue(ca, "server", uiServerRequest());
  const store = await SqliteStore.open(dir.file("pier.db"));
  await store.settings.update({ trustOnFirstConnect: true });
  const edge = new EdgeService(wrapStore(store), { record: () => undefined });
  const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
  const logs: string[] = [];
  const listener = await listenEdgeRoutes(await loadTlsMaterial({ ...server, caPath: ca.caPath, role: "server" }), {
    edge,
    mtlsRequired: () => true,
    tunnels,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  return {
    pki,
    ca,
    store,
    edge,
    listener,
    logs,
    async [Symbol.asyncDispose]() {
      edge.closeAll();
      await listener[Symbol.asyncDispose]();
      await store.close();
      await dir[Symbol.asyncDispose]();
      await pki[Symbol.asyncDispose]();
    },
  };
}
