import { X509Certificate } from "node:crypto";
import { type LogoutRecords, PersistedLogouts } from "../auth/persisted-logouts.ts";
import { SessionDenyList, createSessionTokens, type SessionTokens } from "../auth/session-tokens.ts";
import { type EdgeListener, listenEdgeRoutes } from "../edge/edge-listener.testkit.ts";
import { EdgeService } from "../edge/edge-service.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { TunnelBroker } from "../edge/tunnel-broker.ts";
import { DeviceRevocation } from "../identity/device-revocation.ts";
import { RevocationRegistry } from "../identity/revocations.ts";
import { HeartbeatRegistry } from "../store/heartbeat-registry.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type Credential, type TestCa, type TestPki, clientRequest, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { ClusterEventHandlers, type ClusterEvent, type ClusterEventHandler, type ClusterEvents, parseClusterEvent } from "./cluster-events.ts";
import { handleClusterEvents } from "./event-handlers.ts";

/** One replica's in-memory side: its sessions, tunnels, check-ins, revoked set, deny-list and bus, over the pair's shared store. */
export interface TestReplica {
  readonly name: string;
  readonly events: ClusterEvents;
  readonly edge: EdgeService;
  readonly tunnels: TunnelBroker;
  readonly heartbeats: HeartbeatRegistry;
  readonly registry: RevocationRegistry;
  readonly revocation: DeviceRevocation;
  readonly denied: SessionDenyList;
  readonly logouts: PersistedLogouts;
  /** Session tokens signed with the secret every replica shares. */
  readonly sessions: SessionTokens;
  /** Its edge listener (whole-listener mTLS with the pair's device CA). */
  readonly port: number;
  readonly logs: string[];
  /** Connects a device presenting `credential`. */
  agent(edgeId: string, credential: Credential): Promise<TestAgent>;
}

/** Two replicas sharing one store (a stand-in for one PostgreSQL database) and a bus between them. */
export interface ReplicaPair extends AsyncDisposable {
  readonly a: TestReplica;
  readonly b: TestReplica;
  readonly store: SqliteStore;
  /** Issues a device certificate from the pair's device CA. */
  deviceCertificate(name: string): Promise<Credential>;
  /** Records `credential` as a certificate of the environment (what issuance writes), so a revocation finds it. */
  recordCertificate(environmentId: number, edgeId: string, credential: Credential): Promise<string>;
}

/** Makes the two buses of a pair; each knows its replica id. */
export type BusFactory = (replicaIds: readonly [string, string]) => Promise<readonly [ClusterEvents, ClusterEvents]>;

const sharedSecret = Buffer.alloc(32, 7);

/**
 * Logouts kept in memory, shared by the pair: a stand-in for the store's `revoked_logins`,
 * which the store's own tests cover; here only what the replicas do with it matters.
 */
export function memoryLogoutRecords(): LogoutRecords {
  const rows = new Map<string, Date>();
  return {
    revoke: (jti, expiresAt) => Promise.resolve(void rows.set(jti, expiresAt)),
    list: (now) => Promise.resolve([...rows].filter(([, at]) => at > now).map(([jti, expiresAt]) => ({ jti, expiresAt }))),
    prune: (now) => Promise.resolve([...rows].filter(([jti, at]) => at <= now && rows.delete(jti)).length),
  };
}

/**
 * Starts two replicas: shared store and secret, each with its own edge listener and in-memory
 * state, each subscribed with `handleClusterEvents` to its end of the buses `buses` makes.
 */
export async function startReplicaPair(buses: BusFactory, options: { readonly logoutRecords?: LogoutRecords } = {}): Promise<ReplicaPair> {
  const pki: TestPki = createTestPki();
  const dir: TempDir = tempDir("replicas");
  const serverCa: TestCa = await pki.createCa("Pier test CA");
  const deviceCa: TestCa = await pki.createCa("Device CA");
  const credential = await pki.issue(serverCa, "server", uiServerRequest());
  const material = await loadTlsMaterial({ ...credential, caPath: deviceCa.caPath, role: "server" });
  const store = await SqliteStore.open(dir.file("pier.db"));
  await store.settings.update({ trustOnFirstConnect: false });
  const logoutRecords = options.logoutRecords ?? memoryLogoutRecords();
  const [busA, busB] = await buses(["replica-a", "replica-b"]);
  const listeners: EdgeListener[] = [];
  const stops: (() => void)[] = [];

  const replica = async (name: string, events: ClusterEvents): Promise<TestReplica> => {
    const logs: string[] = [];
    const log = (level: string, message: string) => void logs.push(`${level}: ${message}`);
    const registry = new RevocationRegistry();
    const heartbeats = new HeartbeatRegistry({ store: store.environments });
    const edge = new EdgeService(store, heartbeats, { log, revocations: registry });
    const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
    const revocation = new DeviceRevocation({ store, registry, sessions: edge, tunnels, announce: (revoked) => events.publish({ type: "certificate_revoked", ...revoked }), log });
    const denied = new SessionDenyList();
    const logouts = new PersistedLogouts({ records: logoutRecords, denied, announce: ({ jti, expiresAt }) => events.publish({ type: "login_revoked", jti, expiresAt: expiresAt.getTime() }) });
    const listener = await listenEdgeRoutes(material, { edge, mtlsRequired: () => true, tunnels, log });
    listeners.push(listener);
    revocation.attach([listener.front]);
    stops.push(
      await handleClusterEvents({
        events,
        edge,
        tunnels,
        heartbeats,
        revocation,
        authorities: () => [deviceCa.authority],
        logouts,
        checkinInterval: async () => (await store.settings.get()).edgeAgentCheckinInterval,
        log,
      }),
    );
    return {
      name,
      events,
      edge,
      tunnels,
      heartbeats,
      registry,
      revocation,
      denied,
      logouts,
      sessions: createSessionTokens(sharedSecret, denied, (jti, expiresAt) => logouts.loggedOut(jti, expiresAt)),
      port: listener.port,
      logs,
      agent: (edgeId, device) => TestAgent.connect({ port: listener.port, ca: serverCa.pem, cert: device.certPem, key: device.keyPem, edgeId }),
    };
  };

  const a = await replica("replica-a", busA);
  const b = await replica("replica-b", busB);
  return {
    a,
    b,
    store,
    deviceCertificate: (name) => pki.issue(deviceCa, name, clientRequest(name)),
    async recordCertificate(environmentId, edgeId, device) {
      const x509 = new X509Certificate(device.certPem);
      const serial = x509.serialNumber.toLowerCase();
      const now = Date.now();
      await store.certificates.insert({
        serial,
        environmentId,
        edgeId,
        subject: x509.subject.replace(/\n/g, ", "),
        issuer: x509.issuer.replace(/\n/g, ", "),
        caSpkiSha256: "a".repeat(64),
        spkiSha256: "b".repeat(64),
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        issuedAt: new Date(now - 60_000),
        reason: "enrollment",
        revokedAt: null,
        revocationReason: null,
        certificatePem: device.certPem,
      });
      return serial;
    },
    async [Symbol.asyncDispose]() {
      for (const stop of stops) stop();
      for (const side of [a, b]) {
        side.tunnels.closeAll();
        side.edge.closeAll();
      }
      await Promise.all(listeners.map((listener) => listener[Symbol.asyncDispose]()));
      await Promise.all([busA.close(), busB.close()]);
      await store.close();
      await dir[Symbol.asyncDispose]();
      await pki[Symbol.asyncDispose]();
    },
  };
}

/**
 * Two in-process buses joined as PostgreSQL joins replicas: a publisher's own handlers run at
 * once, then the event travels as JSON (checked like a received payload) to the other bus on a
 * later turn, with the publisher's id as origin. A stand-in for LISTEN/NOTIFY where a database
 * is not the point; `resync()` plays a listener that came back from an outage.
 */
export class BridgedEvents implements ClusterEvents {
  readonly replicaId: string;
  readonly #handlers = new ClusterEventHandlers(() => undefined);
  #peer: BridgedEvents | undefined;
  #closed = false;

  private constructor(replicaId: string) {
    this.replicaId = replicaId;
  }

  /** Two joined buses. */
  static pair([a, b]: readonly [string, string]): readonly [BridgedEvents, BridgedEvents] {
    const first = new BridgedEvents(a);
    const second = new BridgedEvents(b);
    first.#peer = second;
    second.#peer = first;
    return [first, second];
  }

  async publish(event: ClusterEvent): Promise<void> {
    if (this.#closed) return;
    await this.#handlers.dispatch(event, this.replicaId);
    const peer = this.#peer;
    const payload = JSON.stringify(event);
    setImmediate(() => {
      const received = parseClusterEvent(JSON.parse(payload));
      if (received && peer && !peer.#closed) void peer.#handlers.dispatch(received, this.replicaId);
    });
  }

  subscribe(handler: ClusterEventHandler): () => void {
    return this.#handlers.subscribe(handler);
  }

  onResync(handler: () => void | Promise<void>): () => void {
    return this.#handlers.onResync(handler);
  }

  /** Runs the resync handlers, as after a reconnection. */
  resync(): Promise<void> {
    return this.#handlers.resync();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    return Promise.resolve();
  }
}
