import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUnreachable } from "../store/store-errors.ts";
import type { Store } from "../store/index.ts";
import { type TestCa, type TestPki, clientRequest } from "../tls/tls-fixtures.testkit.ts";
import type { EdgeListener } from "./edge-listener.testkit.ts";
import { type MtlsEdgeRoutes, startMtlsEdgeRoutes } from "./mtls-edge-routes.testkit.ts";
import { TestAgent } from "./test-agent.testkit.ts";

/**
 * A device that connects while the database cannot be reached (chaos suite, database-outage):
 * refused with `unavailable` and a retry hint, and the log does not say it once per device (the
 * store says it once per outage), so a fleet reconnecting during an outage floods nothing.
 */
describe("edge sessions while the database cannot be reached", () => {
  let routes: MtlsEdgeRoutes;
  let pki: TestPki;
  let ca: TestCa;
  let listener: EdgeListener;
  let down = false;
  let logs: string[] = [];

  /** The store, each of whose calls fails as an unreachable PostgreSQL's would while `down`. */
  function failingWhenDown(real: Store): Store {
    const wrap = <T extends object>(part: T): T =>
      new Proxy(part, {
        get(target, key, receiver) {
          const value: unknown = Reflect.get(target, key, receiver);
          if (typeof value !== "function") return value;
          const lost = () => databaseUnreachable(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }));
          return (...args: unknown[]) => (down ? Promise.reject(lost()) : (value as (...values: unknown[]) => unknown).apply(target, args));
        },
      });
    return new Proxy(real, {
      get(target, key, receiver) {
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === "object" && value !== null ? wrap(value) : value;
      },
    });
  }

  beforeAll(async () => {
    routes = await startMtlsEdgeRoutes("edge-database-unreachable", failingWhenDown);
    ({ pki, ca, listener, logs } = routes);
  });

  afterAll(() => routes[Symbol.asyncDispose]());

  it("refuses the hello with unavailable and a 5 s hint, logs it at debug only, and welcomes the device once the database is back", async () => {
    const issued = await pki.issue(ca, "outage-device", clientRequest("outage-device"));
    const device = { cert: issued.certPem, key: issued.keyPem };
    down = true;
    const refusals: unknown[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      refusals.push(await TestAgent.connect({ port: listener.port, ca: ca.pem, cert: device.cert, key: device.key, edgeId: "outage-device" }).then(() => undefined, (error: unknown) => error));
    }
    for (const refusal of refusals) expect(String(refusal)).toMatch(/"type":"refused","code":"unavailable","message":"Pier's database cannot be reached right now[^"]*","retryAfterSeconds":5/);
    expect(logs.filter((line) => line.startsWith("warn") || line.startsWith("error"))).toEqual([]);
    expect(logs.filter((line) => line.includes("refused: Pier's database cannot be reached"))).toHaveLength(3);
    down = false;
    await using agent = await TestAgent.connect({ port: listener.port, ca: ca.pem, cert: device.cert, key: device.key, edgeId: "outage-device" });
    expect(agent.welcome.environmentId).toBeGreaterThan(0);
  });
});
