import type { Hello, ServerMessage } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite-store.ts";
import type { EnvironmentStore } from "../store/store.ts";
import { tempDir } from "../store/temp-dir.testkit.ts";
import { EdgeService } from "./edge-service.ts";

/** A real SQLite store whose environment writes are counted (the store itself is untouched). */
async function countingStore(path: string): Promise<{ store: SqliteStore; writes: () => number }> {
  const store = await SqliteStore.open(path);
  let writes = 0;
  const environments: EnvironmentStore = store.environments;
  const update = environments.update.bind(environments);
  environments.update = (id, patch) => {
    writes++;
    return update(id, patch);
  };
  return { store, writes: () => writes };
}

/** One end of a session as the edge routes register it: what it was sent, whether it was closed. */
function session(sourceAddress: string, healthy = true) {
  const frames: ServerMessage[] = [];
  const state = { closed: false };
  return { frames, state, sourceAddress, push: (message: ServerMessage) => frames.push(message), close: () => (state.closed = true), healthy: () => healthy };
}

const hello = (deviceToken?: string): Hello => ({
  type: "hello",
  protocol: 1,
  environmentId: 0,
  agent: { edgeId: "clone-unit", agentVersion: "1.0.0", platform: "docker", hostname: "pi", os: "linux", arch: "arm64" },
  ...(deviceToken === undefined ? {} : { deviceToken }),
});

async function settle(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("EdgeService: reconnects and replaced sessions", () => {
  it("a reconnect that changes nothing writes nothing to the store", async () => {
    await using dir = tempDir("edge-service");
    const counted = await countingStore(dir.file("pier.db"));
    await using store = counted.store;
    const writes = counted.writes;
    const edge = new EdgeService(store, { record: () => undefined });
    const first = await edge.hello(hello(), { sourceAddress: "192.0.2.1" });
    const token = first.welcome.deviceToken;
    expect(token).toBeDefined();
    const before = writes();
    for (let i = 0; i < 20; i++) await edge.hello(hello(token), { sourceAddress: "192.0.2.1" });
    expect(writes() - before).toBe(0);
    // What the device says about itself still reaches the store when it changes.
    await edge.hello({ ...hello(token), agent: { ...hello().agent, agentVersion: "1.0.1" } }, { sourceAddress: "192.0.2.1" });
    expect(writes() - before).toBe(1);
    await edge.hello({ ...hello(token), agent: { ...hello().agent, agentVersion: "1.0.1" } }, { sourceAddress: "192.0.2.99" });
    expect((await store.environments.get(first.environment.id))?.sourceAddress).toBe("192.0.2.99");
  });

  it("tells a replaced session why, naming the new connection's address, before closing it", async () => {
    await using dir = tempDir("edge-service");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const edge = new EdgeService(store, { record: () => undefined });
    const old = session("192.0.2.1");
    edge.attachSession(7, old);
    const replacing = session("198.51.100.2");
    edge.attachSession(7, replacing);
    expect(old.state.closed).toBe(true);
    expect(old.frames).toEqual([{ type: "refused", code: "replaced", message: "another connection presented this device's identity from 198.51.100.2; this session was closed" }]);
    expect(replacing.state.closed).toBe(false);
    expect(edge.isConnected(7)).toBe(true);
  });

  it("flags a clone after repeated replacements of a live session from other addresses, audits it once, and writes it once", async () => {
    await using dir = tempDir("edge-service");
    const counted = await countingStore(dir.file("pier.db"));
    await using store = counted.store;
    const writes = counted.writes;
    const edge = new EdgeService(store, { record: () => undefined });
    const { environment } = await edge.hello(hello(), { sourceAddress: "192.0.2.1" });
    const before = writes();
    const t0 = Date.now();
    for (let i = 0; i < 12; i++) edge.attachSession(environment.id, session(i % 2 === 0 ? "192.0.2.1" : "198.51.100.2"), t0 + i * 1000);
    await settle(async () => (await store.environments.get(environment.id))?.identityClone !== null);

    const stored = await store.environments.get(environment.id);
    expect(stored?.identityClone?.addresses.sort()).toEqual(["192.0.2.1", "198.51.100.2"]);
    expect(stored?.identityClone?.firstSeen.getTime()).toBe(t0 + 1000);
    expect(edge.cloneOf(environment)?.lastSeen.getTime()).toBe(t0 + 11_000);
    const audit = (await store.audit.list({ environmentId: environment.id })).filter((event) => event.kind === "identity_clone");
    expect(audit).toHaveLength(1);
    expect(audit[0]?.detail).toMatchObject({ addresses: expect.arrayContaining(["192.0.2.1", "198.51.100.2"]) as unknown });
    expect(writes() - before).toBe(1);
  });

  it("does not flag a device that reconnects once from a new address, nor one whose old link was dead", async () => {
    await using dir = tempDir("edge-service");
    await using store = await SqliteStore.open(dir.file("pier.db"));
    const edge = new EdgeService(store, { record: () => undefined });
    const { environment } = await edge.hello(hello(), { sourceAddress: "192.0.2.1" });
    const t0 = Date.now();
    edge.attachSession(environment.id, session("192.0.2.1"), t0);
    edge.attachSession(environment.id, session("198.51.100.2", false), t0 + 1000);
    // Dead links replaced from yet other addresses do not count either.
    for (let i = 0; i < 5; i++) edge.attachSession(environment.id, session(`203.0.113.${i}`, false), t0 + 2000 + i);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(edge.cloneOf(environment)).toBeNull();
    expect((await store.environments.get(environment.id))?.identityClone).toBeNull();
    expect((await store.audit.list({ environmentId: environment.id })).map((event) => event.kind)).not.toContain("identity_clone");
  });
});
