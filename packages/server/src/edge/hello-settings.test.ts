import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type TestCaServer, startTestCaServer } from "../api/admin-server.testkit.ts";
import type { ApiClient } from "../api/api-client.testkit.ts";
import type { RunningServer } from "../server.ts";
import { NodeSqliteAdapter } from "../store/node-sqlite-dialect.ts";
import { SqlSettings } from "../store/settings.ts";
import type { TestCa } from "../tls/tls-fixtures.testkit.ts";
import { TestAgent } from "./test-agent.testkit.ts";

const password = "correct horse battery staple";

/** The settings a hello reads come from memory (`SettingsCache`), forgotten when a change is announced. */
describe("startServer: the settings hellos read", () => {
  let started: TestCaServer;
  let ca: TestCa;
  let server: RunningServer;
  let api: ApiClient;

  const agent = (edgeId: string, deviceToken?: string) => TestAgent.connect({ port: server.tunnelAddress.port, ca: ca.pem, edgeId, ...(deviceToken === undefined ? {} : { deviceToken }) });

  beforeAll(async () => {
    started = await startTestCaServer("hello-settings", { adminPassword: password });
    ({ ca, server, api } = started);
    await api.login("admin", password);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await started[Symbol.asyncDispose]();
  });

  it("reconnects of a known device do not read the settings from the store each time", async () => {
    const first = await agent("settings-known");
    const token = first.welcome.deviceToken;
    expect(token).toBeDefined();
    await first.close();
    const reads = vi.spyOn(SqlSettings.prototype, "get");
    const hellos = 10;
    for (let i = 0; i < hellos; i++) {
      const again = await agent("settings-known", token);
      // Precondition: each is a welcomed hello of the same device.
      expect(again.welcome.environmentId).toBe(first.welcome.environmentId);
      await again.close();
    }
    // At most one read a second (the ten take well under a second; a loaded machine may cross one).
    expect(reads.mock.calls.length).toBeLessThan(hellos / 2);
    reads.mockRestore();
  });

  it("a new device's hello with trust on first connect makes 14 statements, its groups read once for its desired state", async () => {
    expect((await api.call("PUT", "/api/settings", { body: { TrustOnFirstConnect: true } })).status).toBe(200);
    // Every statement goes through the adapter's prepare (cached or not); the batched check-in
    // writes run on their own timer, not in the hello.
    const prepare = vi.spyOn(NodeSqliteAdapter.prototype, "prepare");
    const fresh = await agent("statements-new");
    const statements = prepare.mock.calls.map(([sql]) => sql).filter((sql) => !sql.startsWith("UPDATE environments SET last_check_in_at"));
    prepare.mockRestore();
    await fresh.close();
    expect((await api.call("PUT", "/api/settings", { body: { TrustOnFirstConnect: false } })).status).toBe(200);
    // Precondition: associated at once, so the hello computed its desired state and welcomed with its version.
    expect(fresh.welcome.status).toBe("associated");
    expect(fresh.welcome.desiredStateVersion).toMatch(/^[0-9a-f]{64}$/);
    expect(statements.filter((sql) => sql.includes("FROM edge_groups g"))).toHaveLength(1);
    // The settings, its row by EDGE_ID, the insert; the audit row in a write transaction of its
    // own (BEGIN, the chain's head, the insert, COMMIT: store/audit.ts); its edge-group request;
    // then the desired state: its row, its groups, its jobs, the stored versions and their
    // update; its row again for the welcome's version.
    expect(statements, statements.join("\n")).toHaveLength(14);
  });

  it("a settings change applies to the very next hello: trust on first connect, then Edge Compute turned off", async () => {
    // Precondition: a hello just read (and kept) the settings: new devices wait.
    await using waiting = await agent("settings-before");
    expect(waiting.welcome.status).toBe("waiting");

    expect((await api.call("PUT", "/api/settings", { body: { TrustOnFirstConnect: true } })).status).toBe(200);
    await using trusted = await agent("settings-after");
    expect(trusted.welcome.status).toBe("associated");

    expect((await api.call("PUT", "/api/settings", { body: { EnableEdgeComputeFeatures: false } })).status).toBe(200);
    await expect(agent("settings-off")).rejects.toThrow(/Edge Compute is disabled/);
    // A known device too.
    await expect(agent("settings-before", waiting.welcome.deviceToken)).rejects.toThrow(/Edge Compute is disabled/);
  });
});
