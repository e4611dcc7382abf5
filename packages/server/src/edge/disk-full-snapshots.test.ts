import { edgePaths } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diskFullError } from "../store/disk-full.ts";
import type { Store } from "../store/index.ts";
import { sampleSnapshot } from "../store/snapshot.testkit.ts";
import { SqliteStore } from "../store/sqlite-store.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { type TestCa, type TestPki, clientRequest, createTestPki, uiServerRequest } from "../tls/tls-fixtures.testkit.ts";
import { loadTlsMaterial } from "../tls/tls-material.ts";
import { EdgeService } from "./edge-service.ts";
import { type EdgeListener, listenEdgeRoutes } from "./edge-listener.testkit.ts";
import { TestAgent } from "./test-agent.testkit.ts";
import { TunnelBroker } from "./tunnel-broker.ts";

/**
 * Snapshots posted while the server's disk is full (chaos suite, disk-full): each is refused
 * with 507 `disk_full`, and the log does not say it once per device and snapshot (a fleet of
 * 1,000 posting every 30 s made as many warn lines); the store says it once (DiskFullNotice).
 */
describe("snapshots while the disk is full", () => {
  let pki: TestPki;
  let dir: TempDir;
  let ca: TestCa;
  let store: SqliteStore;
  let edge: EdgeService;
  let listener: EdgeListener;
  let full = false;
  const logs: string[] = [];

  /** The store, whose snapshot writes fail as on a full disk while `full`. */
  function snapshotsFailWhenFull(real: Store): Store {
    const snapshots = new Proxy(real.snapshots, {
      get(target, key, receiver) {
        const value: unknown = Reflect.get(target, key, receiver);
        if (key !== "put" || typeof value !== "function") return value;
        return (...args: unknown[]) => (full ? Promise.reject(diskFullError({ dataDir: "/var/lib/pier" })) : (value as (...values: unknown[]) => unknown).apply(target, args));
      },
    });
    return new Proxy(real, { get: (target, key, receiver): unknown => (key === "snapshots" ? snapshots : Reflect.get(target, key, receiver)) });
  }

  beforeAll(async () => {
    pki = createTestPki();
    dir = tempDir("edge-disk-full");
    ca = await pki.createCa("Pier test CA");
    const server = await pki.issue(ca, "server", uiServerRequest());
    store = await SqliteStore.open(dir.file("pier.db"));
    await store.settings.update({ trustOnFirstConnect: true });
    edge = new EdgeService(snapshotsFailWhenFull(store), { record: () => undefined });
    const tunnels = new TunnelBroker({ push: (environmentId, message) => edge.push(environmentId, message) });
    listener = await listenEdgeRoutes(await loadTlsMaterial({ ...server, caPath: ca.caPath, role: "server" }), { edge, mtlsRequired: () => true, tunnels, log: (level, message) => logs.push(`${level}: ${message}`) });
  });

  afterAll(async () => {
    edge.closeAll();
    await listener[Symbol.asyncDispose]();
    await store.close();
    await dir[Symbol.asyncDispose]();
    await pki[Symbol.asyncDispose]();
  });

  it("refuses each with 507 disk_full naming the disk, logs them at debug only, and stores the next once there is room", async () => {
    const issued = await pki.issue(ca, "full-device", clientRequest("full-device"));
    await using agent = await TestAgent.connect({ port: listener.port, ca: ca.pem, cert: issued.certPem, key: issued.keyPem, edgeId: "full-device" });
    full = true;
    for (let attempt = 0; attempt < 3; attempt++) {
      const refused = await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()));
      expect(refused.status).toBe(507);
      expect(refused.body).toContain('"code":"disk_full"');
      expect(refused.body).toContain("/var/lib/pier");
    }
    expect(logs.filter((line) => line.startsWith("warn") || line.startsWith("error"))).toEqual([]);
    full = false;
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
  });
});
