import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeDocker, startFakeDocker } from "../docker/fake-docker.testkit.ts";
import { type EdgeListener, listenEdgeRoutes } from "../edge/edge-listener.testkit.ts";
import { EdgeService } from "../edge/edge-service.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { TunnelBroker } from "../edge/tunnel-broker.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { type TestPki, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { connectionIdentity } from "../tls/tls-front.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { ClusterFiles } from "./cluster-files.ts";
import { type ClusterRouting, startClusterRouting } from "./cluster-routing.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";
import { SecretBox } from "./secret-box.ts";

const containing = (text: string): unknown => expect.stringContaining(text);

/** One HTTP/1.1 request through a tunnel, as the Docker proxy makes it. */
function requestThrough(tunnel: Duplex, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ createConnection: () => tunnel, path, headers: { host: "docker" } }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on("error", reject);
    request.end();
  });
}

/** Short liveness so a dead replica shows within seconds. */
const timing = { touchIntervalMs: 200, aliveMs: 1_500, pruneAfterMs: 4_000 };

/** One replica's routing side: its own connections to the shared database, sessions and broker. */
interface Replica {
  readonly store: Store;
  readonly edge: EdgeService;
  readonly tunnels: TunnelBroker;
  readonly routing: ClusterRouting;
  readonly logs: string[];
}

/**
 * Routing between two replicas on one real PostgreSQL database: each has its own store
 * connections, edge service, tunnel broker and `startClusterRouting` (peer CA from
 * `cluster_files`, peer listener, replica row, session directory). A test agent holds its
 * session on A; B finds A through `edge_sessions` and `replicas` and tunnels over the peer channel.
 */
describe("routing between replicas on PostgreSQL: session directory, replica rows, peer CA", () => {
  let pki: TestPki;
  let listener: EdgeListener;
  let ca: string;
  let docker: FakeDocker;
  let a: Replica;
  let b: Replica;
  const box = new SecretBox(Buffer.alloc(32, 9));

  async function replica(name: string, url: string): Promise<Replica> {
    const store = await openStore({ url });
    const edge = new EdgeService(store, { record: () => undefined });
    const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
    const logs: string[] = [];
    const log = (level: string, message: string) => void logs.push(`${level}: ${message}`);
    const replicaId = name === "replica-a" ? "aaaaaaaa-1111-4000-8000-000000000001" : "bbbbbbbb-2222-4000-8000-000000000002";
    const files = new ClusterFiles({ store: store.cluster, box, dataDir: join(tmpdir(), "pier-routing-unused") });
    const routing = await startClusterRouting({ store, files, replicaId, replicaName: name, peerHost: "127.0.0.1", peerPort: 0, edge, tunnels, log, timing });
    return { store, edge, tunnels, routing, logs };
  }

  beforeAll(async () => {
    const url = await freshPostgresDatabase("routing");
    pki = createTestPki();
    const serverCa = await pki.createCa("Pier test CA");
    ca = serverCa.pem;
    docker = await startFakeDocker();
    // Both replicas start together: one creates the peer CA under the lock, the other finds it.
    [a, b] = await Promise.all([replica("replica-a", url), replica("replica-b", url)]);
    await a.store.settings.update({ trustOnFirstConnect: true });
    const credential = await pki.issue(serverCa, "server", uiServerRequest());
    listener = await listenEdgeRoutes(
      await loadTlsMaterial({ ...credential, role: "server" }),
      {
        edge: a.edge,
        mtlsRequired: () => false,
        identify: (req) => ({ authorized: false, remoteAddress: connectionIdentity(req).remoteAddress ?? "unknown" }),
        tunnels: a.tunnels,
        log: () => undefined,
      },
      { mode: "none" },
    );
  });
  afterAll(async () => {
    for (const side of [a, b]) {
      side.tunnels.closeAll();
      side.edge.closeAll();
      await side.routing.close();
      await side.store.close();
    }
    await listener[Symbol.asyncDispose]();
    await docker[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  });

  it("creates the peer CA once, sealed in cluster_files (no key in the clear)", async () => {
    const files = await a.store.cluster.listFiles("peer/");
    expect(files.map((file) => file.name)).toEqual(["peer/ca.crt", "peer/ca.key"]);
    for (const file of files) expect(file.content.toString("latin1")).not.toContain("-----BEGIN");
    expect(box.open("peer/ca.key", files[1]!.content).toString("utf8")).toContain("-----BEGIN PRIVATE KEY-----");
    const rows = await b.store.cluster.replicas();
    expect(rows.map((row) => [row.name, row.peerAddress])).toEqual(
      expect.arrayContaining([
        ["replica-a", a.routing.peerAddress],
        ["replica-b", b.routing.peerAddress],
      ]),
    );
  });

  it("claims the session on A; B finds A in edge_sessions and reaches the device through it; closing the session releases the row", async () => {
    const agent = await TestAgent.connect({ port: listener.port, ca, edgeId: "routed-device" });
    agent.serveTunnels(docker);
    const id = agent.welcome.environmentId;
    await expect.poll(() => b.store.cluster.sessionOwner(id)).toMatchObject({ environmentId: id, replicaId: a.routing.registry.self.id });
    expect(b.edge.isConnected(id)).toBe(false);
    expect(await b.routing.directory.ownerOf(id)).toMatchObject({ replica: { name: "replica-a" }, alive: true, local: false });
    expect(await b.routing.tunnels.isReachable(id)).toBe(true);
    expect(await requestThrough(await b.routing.tunnels.open(id), "/_ping")).toEqual({ status: 200, body: "OK" });

    await agent.close();
    await expect.poll(() => b.store.cluster.sessionOwner(id)).toBeNull();
    expect(await b.routing.tunnels.isReachable(id)).toBe(false);
    await expect(b.routing.tunnels.open(id)).rejects.toMatchObject({ code: "unavailable", message: containing("no open edge session") });
  });

  it("answers 503 naming replica A once A stops answering, then forgets A and its sessions", { timeout: 20_000 }, async () => {
    const agent = await TestAgent.connect({ port: listener.port, ca, edgeId: "orphaned-device" });
    const id = agent.welcome.environmentId;
    await expect.poll(() => b.store.cluster.sessionOwner(id)).not.toBeNull();
    // A's routing goes away as a killed replica's would: no release, its row stops being refreshed.
    await a.routing.close();
    await expect(b.routing.tunnels.open(id, { timeoutMs: 500 })).rejects.toMatchObject({ code: "unavailable", message: containing("is on replica replica-a") });
    await expect.poll(async () => (await b.routing.directory.ownerOf(id))?.alive, { timeout: 5_000 }).toBe(false);
    await expect(b.routing.tunnels.open(id)).rejects.toMatchObject({ code: "unavailable", message: containing("which does not answer: it has not been seen since") });
    // B's registry prunes A with its edge_sessions rows.
    await expect.poll(() => b.store.cluster.getReplica(a.routing.registry.self.id), { timeout: 10_000 }).toBeNull();
    expect(await b.store.cluster.sessionOwner(id)).toBeNull();
    expect(b.logs.some((line) => line.includes("removed 1 replica(s) not seen for 4 s"))).toBe(true);
    await agent.close();
  });
});
