import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { connectionIdentity } from "../tls/tls-front.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { listenEdgeRoutes } from "./edge-listener.testkit.ts";
import { EdgeService, type EdgeServiceOptions } from "./edge-service.ts";
import type { FleetEdgeServices } from "./fleet-routes.ts";
import type { HelloGate } from "./hello-gate.ts";
import { TestAgent, type TestAgentOptions } from "./test-agent.testkit.ts";
import { TunnelBroker } from "./tunnel-broker.ts";

/** The edge side of a server on a real TLS listener (HTTP/2 with HTTP/1.1 fallback), on loopback. */
export interface EdgeFixture extends AsyncDisposable {
  readonly port: number;
  /** The CA the server certificate (for 127.0.0.1) chains to. */
  readonly ca: string;
  readonly store: SqliteStore;
  readonly edge: EdgeService;
  readonly tunnels: TunnelBroker;
  /** What the edge routes logged, as "level: message". */
  readonly logs: string[];
  /** Flip to require verified mTLS on edge endpoints (connections here never are). */
  mtlsRequired: boolean;
  /** Connects a test agent, trusted on first connect. */
  agent(edgeId: string, options?: Partial<TestAgentOptions>): Promise<TestAgent>;
}

/**
 * Starts the fixture; dispose it to stop everything and remove its files. New devices are
 * trusted on first connect unless `trustOnFirstConnect` is false (they wait in the waiting room).
 */
export async function startEdgeFixture(
  options: {
    readonly edge?: EdgeServiceOptions;
    readonly trustOnFirstConnect?: boolean;
    /** The fleet services the device routes answer from, built on the fixture's store and edge service. */
    readonly fleet?: (parts: { store: SqliteStore; edge: EdgeService }) => FleetEdgeServices;
    /** The hello gate of the edge routes (their default one without it). */
    readonly hellos?: HelloGate;
    /** How often the edge routes log their session counts (ms; their default without it). */
    readonly sessionSummaryMs?: number;
  } = {},
): Promise<EdgeFixture> {
  const pki: TestPki = createTestPki();
  const dir: TempDir = tempDir("edge");
  const ca: TestCa = await pki.createCa("Pier test CA");
  const credential = await pki.issue(ca, "server", uiServerRequest());
  const store = await SqliteStore.open(dir.file("pier.db"));
  await store.settings.update({ trustOnFirstConnect: options.trustOnFirstConnect ?? true });
  const edge = new EdgeService(store, { record: () => undefined }, options.edge);
  const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
  edge.onSessionOpened((environmentId) => tunnels.sessionOpened(environmentId));
  const logs: string[] = [];
  const state = { mtlsRequired: false };
  const listener = await listenEdgeRoutes(
    await loadTlsMaterial({ ...credential, role: "server" }),
    {
      edge,
      mtlsRequired: () => state.mtlsRequired,
      identify: (req) => {
        const who = connectionIdentity(req);
        return { authorized: who.mtls && who.authorized, remoteAddress: who.remoteAddress ?? "unknown" };
      },
      tunnels,
      ...(options.fleet ? { fleet: options.fleet({ store, edge }) } : {}),
      ...(options.hellos ? { hellos: options.hellos } : {}),
      ...(options.sessionSummaryMs === undefined ? {} : { sessionSummaryMs: options.sessionSummaryMs }),
      log: (level, message) => logs.push(`${level}: ${message}`),
    },
    { mode: "none" },
  );
  const { port } = listener;
  return {
    port,
    ca: ca.pem,
    store,
    edge,
    tunnels,
    logs,
    get mtlsRequired() {
      return state.mtlsRequired;
    },
    set mtlsRequired(value: boolean) {
      state.mtlsRequired = value;
    },
    agent: (edgeId, options = {}) => TestAgent.connect({ port, ca: ca.pem, edgeId, ...options }),
    async [Symbol.asyncDispose]() {
      tunnels.closeAll();
      edge.closeAll();
      await listener[Symbol.asyncDispose]();
      await store.close();
      await dir[Symbol.asyncDispose]();
      await pki[Symbol.asyncDispose]();
    },
  };
}
