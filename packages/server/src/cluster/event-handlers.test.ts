import { refusedCodes } from "@pier/protocol";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TestAgent } from "../edge/test-agent.testkit.ts";
import { PgClusterEvents } from "./pg-cluster-events.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";
import { BridgedEvents, type BusFactory, type ReplicaPair, memoryLogoutRecords, startReplicaPair } from "./replica-pair.testkit.ts";

let postgresUrl: string;
beforeAll(async () => {
  postgresUrl = await freshPostgresDatabase("handlers");
});

const buses: [string, BusFactory][] = [
  ["an in-process bridge", (ids) => Promise.resolve(BridgedEvents.pair(ids))],
  ["PostgreSQL LISTEN/NOTIFY", async ([a, b]) => [await PgClusterEvents.start({ url: postgresUrl, replicaId: a }), await PgClusterEvents.start({ url: postgresUrl, replicaId: b })] as const],
];

const open: (ReplicaPair | TestAgent)[] = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await (item as AsyncDisposable)[Symbol.asyncDispose]();
});

async function pair(bus: BusFactory, options: Parameters<typeof startReplicaPair>[1] = {}): Promise<ReplicaPair> {
  const started = await startReplicaPair(bus, options);
  open.push(started);
  return started;
}

/** A device with a certificate of the pair's device CA whose session is open on replica A. */
async function deviceOnA(replicas: ReplicaPair, edgeId: string) {
  const credential = await replicas.deviceCertificate(edgeId);
  const agent = await replicas.a.agent(edgeId, credential);
  open.push(agent);
  const environmentId = agent.welcome.environmentId;
  // Precondition: A holds the session, B does not.
  expect(replicas.a.edge.isConnected(environmentId)).toBe(true);
  expect(replicas.b.edge.isConnected(environmentId)).toBe(false);
  return { agent, credential, environmentId };
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(buses)("changes made on one replica act on the other, over %s", (busName, bus) => {
  it("a removal on B ends the session A holds (refused: removed) and A forgets its check-ins", async () => {
    const replicas = await pair(bus);
    const { agent, environmentId } = await deviceOnA(replicas, "removed-device");
    replicas.a.heartbeats.record(environmentId, new Date());
    expect(replicas.a.heartbeats.lastCheckIn(environmentId, null)).not.toBeNull();

    const sent = performance.now();
    await replicas.b.events.publish({ type: "environment_removed", environmentId });
    const refused = await agent.next("refused", 2000);
    const latencyMs = performance.now() - sent;

    expect(refused.code).toBe("removed");
    expect(refused.message).toContain("removed by an administrator");
    expect(replicas.a.edge.isConnected(environmentId)).toBe(false);
    expect(replicas.a.heartbeats.lastCheckIn(environmentId, null)).toBeNull();
    expect(latencyMs).toBeLessThan(1000);
    console.log(`removal on B -> session on A refused, over ${busName}: ${latencyMs.toFixed(1)} ms`);
  });

  it("a revocation on B closes the session on A (refused: revoked) and A refuses the certificate from then on", async () => {
    const replicas = await pair(bus);
    const { agent, credential, environmentId } = await deviceOnA(replicas, "revoked-device");
    const serial = await replicas.recordCertificate(environmentId, "revoked-device", credential);
    expect(replicas.a.registry.has({ issuer: "CN=Device CA", serial })).toBe(false);

    const sent = performance.now();
    const outcome = await replicas.b.revocation.revokeEnvironment(environmentId, { reason: "keyCompromise", by: "admin" });
    expect(outcome.serials).toEqual([serial]);
    const refused = await agent.next("refused", 2000);
    const latencyMs = performance.now() - sent;

    expect(refused.code).toBe(refusedCodes.revoked);
    expect(refused.message).toContain(serial);
    expect(latencyMs).toBeLessThan(1000);
    expect(replicas.a.registry.has({ issuer: "CN=Device CA", serial })).toBe(true);
    // The same certificate cannot open a session on A again.
    await expect(replicas.a.agent("revoked-device", credential)).rejects.toThrow();
    expect(replicas.a.logs.some((line) => line.includes(`certificate ${serial} revoked on another replica`))).toBe(true);
    console.log(`revocation on B -> session on A refused, over ${busName}: ${latencyMs.toFixed(1)} ms`);
  });

  it("a new check-in interval saved on B reaches the sessions A holds; a settings change that leaves it alone pushes nothing", async () => {
    const replicas = await pair(bus);
    const { agent } = await deviceOnA(replicas, "interval-device");
    expect(agent.welcome.checkinIntervalSeconds).not.toBe(42);

    await replicas.store.settings.update({ alertExpiryDays: 9 });
    await replicas.b.events.publish({ type: "settings_changed" });
    await expect(agent.next("status", 300)).rejects.toThrow("no status frame");

    await replicas.store.settings.update({ edgeAgentCheckinInterval: 42 });
    await replicas.b.events.publish({ type: "settings_changed" });
    expect(await agent.next("status", 2000)).toMatchObject({ checkinIntervalSeconds: 42 });
  });

  it("an association on B reaches the waiting device's session on A", async () => {
    const replicas = await pair(bus);
    const { agent, environmentId } = await deviceOnA(replicas, "waiting-device");
    expect(agent.welcome.status).toBe("waiting");

    await replicas.store.environments.update(environmentId, { userTrusted: true });
    await replicas.b.events.publish({ type: "environment_changed", environmentId });
    expect(await agent.next("status", 2000)).toMatchObject({ status: "associated" });
  });

  it("a session opened on B for the same device ends the older one on A (refused: replaced, naming the new address)", async () => {
    const replicas = await pair(bus);
    const { agent, credential, environmentId } = await deviceOnA(replicas, "moving-device");

    const moved = await replicas.b.agent("moving-device", credential);
    open.push(moved);
    expect(moved.welcome.environmentId).toBe(environmentId);
    const refused = await agent.next("refused", 2000);

    expect(refused.code).toBe(refusedCodes.replaced);
    expect(refused.message).toContain("from 127.0.0.1");
    expect(replicas.a.edge.isConnected(environmentId)).toBe(false);
    expect(replicas.b.edge.isConnected(environmentId)).toBe(true);
    expect(replicas.a.logs.some((line) => line.includes("on replica replica-b"))).toBe(true);
  });

  it("an announcement of an older session that arrives late leaves the newer session alone", async () => {
    const replicas = await pair(bus);
    const { agent, environmentId } = await deviceOnA(replicas, "late-device");
    const openedBefore = Date.now() - 5_000;

    await replicas.b.events.publish({ type: "session_opened", environmentId, replicaId: "replica-b", sourceAddress: "192.0.2.9", openedAt: openedBefore });
    await expect(agent.next("refused", 500)).rejects.toThrow("no refused frame");
    expect(replicas.a.edge.isConnected(environmentId)).toBe(true);
    // The same announcement, newer than A's session, ends it.
    await replicas.b.events.publish({ type: "session_opened", environmentId, replicaId: "replica-b", sourceAddress: "192.0.2.9", openedAt: Date.now() });
    const refused = await agent.next("refused", 2000);
    expect(refused.code).toBe(refusedCodes.replaced);
    expect(refused.message).toContain("192.0.2.9");
  });

  it("a logout on B is refused on A at once, and after A restarts", async () => {
    const records = memoryLogoutRecords();
    const replicas = await pair(bus, { logoutRecords: records });
    const token = replicas.a.sessions.issue({ id: 1, username: "admin", role: "admin" });
    expect(replicas.a.sessions.verify(token).userId).toBe(1);

    await replicas.b.sessions.revoke(token);
    await until(() => {
      try {
        replicas.a.sessions.verify(token);
        return false;
      } catch {
        return true;
      }
    }, 1000);
    expect(() => replicas.a.sessions.verify(token)).toThrow("This session was logged out");

    // A restarted replica (a new deny-list) loads the logout from the store.
    const restarted = await pair(bus, { logoutRecords: records });
    expect(() => restarted.a.sessions.verify(token)).not.toThrow();
    expect(await restarted.a.logouts.load()).toBe(1);
    expect(() => restarted.a.sessions.verify(token)).toThrow("This session was logged out");
  });
});

describe("an announcement the store does not back", () => {
  it("a certificate_revoked for a serial the store does not record as revoked changes nothing: the session stays and the revoked set does not list it", async () => {
    const replicas = await pair((ids) => Promise.resolve(BridgedEvents.pair(ids)));
    const { agent, credential, environmentId } = await deviceOnA(replicas, "forged-device");
    const serial = await replicas.recordCertificate(environmentId, "forged-device", credential);

    await replicas.b.events.publish({ type: "certificate_revoked", environmentId, serial });
    await replicas.b.events.publish({ type: "certificate_revoked", environmentId: null, serial: "0badc0de" });
    await until(() => replicas.a.logs.filter((line) => line.includes("; ignored")).length === 2);

    await expect(agent.next("refused", 300)).rejects.toThrow("no refused frame");
    expect(replicas.a.edge.isConnected(environmentId)).toBe(true);
    expect(replicas.a.registry.has({ issuer: "CN=Device CA", serial })).toBe(false);
    expect(replicas.a.logs).toContain(`warn: a replica announced that certificate ${serial} is revoked, but the store does not record it as revoked; ignored`);
    expect(replicas.a.logs).toContain("warn: a replica announced that certificate 0badc0de is revoked, but the store does not know it; ignored");
  });
});

describe("after the events channel came back (resync)", () => {
  it("reloads the revoked certificates, logouts and check-in interval an event could have told", async () => {
    const records = memoryLogoutRecords();
    const replicas = await pair((ids) => Promise.resolve(BridgedEvents.pair(ids)), { logoutRecords: records });
    const { agent, credential, environmentId } = await deviceOnA(replicas, "missed-device");
    const serial = await replicas.recordCertificate(environmentId, "missed-device", credential);
    const token = replicas.a.sessions.issue({ id: 1, username: "admin", role: "admin" });
    // Changes A never heard of: written to the shared store only.
    await replicas.store.certificates.revokeForEnvironment(environmentId, { at: new Date(), reason: "keyCompromise" });
    await records.revoke(replicas.a.sessions.verify(token).tokenId, new Date(Date.now() + 3_600_000));
    await replicas.store.settings.update({ edgeAgentCheckinInterval: 17 });
    expect(replicas.a.registry.has({ issuer: "CN=Device CA", serial })).toBe(false);

    await (replicas.a.events as BridgedEvents).resync();

    expect(replicas.a.registry.has({ issuer: "CN=Device CA", serial })).toBe(true);
    expect(() => replicas.a.sessions.verify(token)).toThrow("This session was logged out");
    expect(await agent.next("status", 2000)).toMatchObject({ checkinIntervalSeconds: 17 });
    expect(replicas.a.logs).toContain("info: cluster resync: revocations, logouts, settings, mTLS certificates and sessions reloaded after the events channel came back");
  });
});
