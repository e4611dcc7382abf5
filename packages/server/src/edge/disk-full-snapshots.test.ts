import { edgePaths } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diskFullError } from "../store/disk-full.ts";
import type { Store } from "../store/index.ts";
import { sampleSnapshot } from "../store/snapshot.testkit.ts";
import { type TestCa, type TestPki, clientRequest } from "../tls/tls-fixtures.testkit.ts";
import type { EdgeListener } from "./edge-listener.testkit.ts";
import { type MtlsEdgeRoutes, startMtlsEdgeRoutes } from "./mtls-edge-routes.testkit.ts";
import { TestAgent } from "./test-agent.testkit.ts";

/**
 * Snapshots posted while the server's disk is full (chaos suite, disk-full): each is refused
 * with 507 `disk_full`, and the log does not say it once per device and snapshot (a fleet of
 * 1,000 posting every 30 s made as many warn lines); the store says it once (DiskFullNotice).
 */
describe("snapshots while the disk is full", () => {
  let routes: MtlsEdgeRoutes;
  let pki: TestPki;
  let ca: TestCa;
  let listener: EdgeListener;
  let full = false;
  let logs: string[] = [];

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
    routes = await startMtlsEdgeRoutes("edge-disk-full", snapshotsFailWhenFull);
    ({ pki, ca, listener, logs } = routes);
  });

  afterAll(() => routes[Symbol.asyncDispose]());

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
