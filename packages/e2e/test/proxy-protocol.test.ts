import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort, proxySource, startBuiltInCaServer, startHaproxy, startPierAgent, tempDir, until, type Haproxy, type PierApi, type PierServer, type TempDir } from "../src/index.ts";

/**
 * A real HAProxy in TCP mode with `send-proxy-v2` in front of one `pier server` started with
 * `--proxy-protocol-from 127.0.0.100` (HAProxy's source address) and `--enrollment-rate 1/h`:
 * agents leave from addresses of their own (PIER_AGENT_SOURCE_ADDRESS) and the server sees
 * those, not the balancer's, in the Waiting Room and in its per-source limits.
 */
const password = "proxy-protocol-e2e-password";
let dir: TempDir;
let server: PierServer;
let api: PierApi;
let balancer: Haproxy;

interface Endpoint {
  Id: number;
  EdgeID: string;
  Pier: { Connected: boolean; SourceAddress: string };
}

beforeAll(async () => {
  dir = tempDir("proxy-protocol");
  const ports = { httpsPort: await freeLoopbackPort(), tunnelPort: await freeLoopbackPort() };
  ({ server, api } = await startBuiltInCaServer(dir, password, [
    "--proxy-protocol-from",
    `${proxySource}/32`,
    "--enrollment-rate",
    "1/h",
    "--edge-api-url",
    `https://localhost:${ports.httpsPort}`,
    "--edge-tunnel-address",
    `localhost:${ports.tunnelPort}`,
  ]));
  balancer = await startHaproxy([{ httpsPort: server.httpsPort, tunnelPort: server.tunnelPort }], { ...ports, sendProxy: true });
});

afterAll(async () => {
  await balancer.stop();
  await server.stop();
  await dir[Symbol.asyncDispose]();
});

async function waitingDevice(edgeId: string): Promise<Endpoint> {
  return until(
    `${edgeId} in the Waiting Room`,
    async () => {
      const res = await api.call<Endpoint[]>("GET", "/api/endpoints");
      return res.body.find((endpoint) => endpoint.EdgeID === edgeId && endpoint.Pier.Connected);
    },
    30_000,
  );
}

describe("PROXY protocol behind HAProxy (send-proxy-v2)", () => {
  it("shows each agent's own address in the Waiting Room, and the per-address enrollment limit counts it, not HAProxy", async () => {
    expect(balancer.config).toContain("send-proxy-v2");
    expect(server.output()).toContain(`PROXY protocol: connections from ${proxySource}/32 must begin with a PROXY header`);
    // The API client above reached the server directly from 127.0.0.1, not a listed address: served as before.
    await using first = startPierAgent({ edgeId: "edge-proxied-1", edgeKey: server.edgeKey, dataDir: dir.file("agent-1"), env: { PIER_AGENT_SOURCE_ADDRESS: "127.0.0.21" } });
    expect((await waitingDevice("edge-proxied-1")).Pier.SourceAddress).toBe("127.0.0.21");
    // With one enrollment per address and hour, a second device through the same balancer
    // enrolls only because the server counts its own address (127.0.0.22), not HAProxy's.
    await using second = startPierAgent({ edgeId: "edge-proxied-2", edgeKey: server.edgeKey, dataDir: dir.file("agent-2"), env: { PIER_AGENT_SOURCE_ADDRESS: "127.0.0.22" } });
    expect((await waitingDevice("edge-proxied-2")).Pier.SourceAddress).toBe("127.0.0.22");
    // Precondition of the above: the limit is in force, per client behind the balancer.
    await using third = startPierAgent({ edgeId: "edge-proxied-3", edgeKey: server.edgeKey, dataDir: dir.file("agent-3"), env: { PIER_AGENT_SOURCE_ADDRESS: "127.0.0.21" } });
    await third.waitFor(/Too many new devices from 127\.0\.0\.21/, 30_000);
    expect(server.output()).not.toContain(`Too many new devices from ${proxySource}`);
    // HAProxy's health checks (LOCAL headers) and the agents' connections all carried a valid header.
    expect(server.output()).not.toContain(`closed a connection from ${proxySource}`);
    void first;
    void second;
  });
});
