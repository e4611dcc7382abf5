import { describe, expect, it } from "vitest";
import { LocalClusterEvents, parseClusterEvent, type ClusterEvent } from "./cluster-events.ts";

describe("LocalClusterEvents", () => {
  it("runs every subscriber with the event and this replica as origin, before publish resolves", async () => {
    const events = new LocalClusterEvents("replica-a");
    const seen: [ClusterEvent, string][] = [];
    events.subscribe((event, origin) => void seen.push([event, origin]));
    events.subscribe(async (event, origin) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push([event, `${origin}/async`]);
    });
    await events.publish({ type: "environment_removed", environmentId: 7 });
    expect(seen).toEqual([
      [{ type: "environment_removed", environmentId: 7 }, "replica-a"],
      [{ type: "environment_removed", environmentId: 7 }, "replica-a/async"],
    ]);
    expect(events.replicaId).toBe("replica-a");
  });

  it("logs a throwing handler and still runs the others; publish does not reject", async () => {
    const logged: string[] = [];
    const events = new LocalClusterEvents("r1", { log: (level, message) => logged.push(`${level}: ${message}`) });
    let reached = 0;
    events.subscribe(() => {
      throw new Error("boom");
    });
    events.subscribe(() => Promise.reject(new Error("rejected")));
    events.subscribe(() => void reached++);
    await expect(events.publish({ type: "settings_changed" })).resolves.toBeUndefined();
    expect(reached).toBe(1);
    expect(logged).toEqual([
      "error: cluster event settings_changed from replica r1: a handler failed: boom",
      "error: cluster event settings_changed from replica r1: a handler failed: rejected",
    ]);
  });

  it("stops calling an unsubscribed handler and everything after close", async () => {
    const events = new LocalClusterEvents();
    let calls = 0;
    const unsubscribe = events.subscribe(() => void calls++);
    await events.publish({ type: "settings_changed" });
    expect(calls).toBe(1);
    unsubscribe();
    await events.publish({ type: "settings_changed" });
    expect(calls).toBe(1);
    events.subscribe(() => void calls++);
    await events.close();
    await events.publish({ type: "settings_changed" });
    expect(calls).toBe(1);
  });

  it("gives each bus a distinct random replica id by default", () => {
    const a = new LocalClusterEvents();
    const b = new LocalClusterEvents();
    expect(a.replicaId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.replicaId).not.toBe(b.replicaId);
  });
});

describe("parseClusterEvent", () => {
  it("accepts every event type as published", () => {
    const all: ClusterEvent[] = [
      { type: "environment_changed", environmentId: 1 },
      { type: "environment_removed", environmentId: 2 },
      { type: "certificate_revoked", environmentId: null, serial: "0a1b" },
      { type: "settings_changed" },
      { type: "files_changed", prefix: "tls/" },
      { type: "login_revoked", jti: "j1", expiresAt: 1_700_000_000_000 },
      { type: "session_opened", environmentId: 3, replicaId: "r2", sourceAddress: "10.0.0.1", openedAt: 1_765_000_000_000 },
    ];
    for (const event of all) expect(parseClusterEvent(JSON.parse(JSON.stringify(event)))).toEqual(event);
  });

  it("refuses unknown types, missing or extra fields and oversized values", () => {
    expect(parseClusterEvent({ type: "settings_changed" })).toBeDefined();
    expect(parseClusterEvent({ type: "nope" })).toBeUndefined();
    expect(parseClusterEvent({ type: "environment_removed" })).toBeUndefined();
    expect(parseClusterEvent({ type: "environment_removed", environmentId: "7" })).toBeUndefined();
    expect(parseClusterEvent({ type: "environment_removed", environmentId: 7, extra: 1 })).toBeUndefined();
    expect(parseClusterEvent({ type: "login_revoked", jti: "x".repeat(257), expiresAt: 1 })).toBeUndefined();
    expect(parseClusterEvent(null)).toBeUndefined();
    expect(parseClusterEvent("settings_changed")).toBeUndefined();
  });
});
