import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClusterEvent } from "./cluster-events.ts";
import { PgClusterEvents, clusterEventsChannel, describePostgresUrl, reportsReconnectAttempt } from "./pg-cluster-events.ts";
import { freshPostgresDatabase, sqlOn } from "./postgres-database.testkit.ts";

let url: string;
beforeAll(async () => {
  url = await freshPostgresDatabase("events");
});

const opened: PgClusterEvents[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((events) => events.close()));
});

async function start(name: string, logs: string[] = []): Promise<PgClusterEvents> {
  const events = await PgClusterEvents.start({ url, replicaId: name, log: (level, message) => logs.push(`${level}: ${message}`), minBackoffMs: 50, maxBackoffMs: 400 });
  opened.push(events);
  return events;
}

/** Resolves with the first event `events` receives from another replica, and the time it took since `since`. */
function nextRemote(events: PgClusterEvents): Promise<{ event: ClusterEvent; origin: string; at: number }> {
  return new Promise((resolve) => {
    const stop = events.subscribe((event, origin) => {
      if (origin === events.replicaId) return;
      stop();
      resolve({ event, origin, at: performance.now() });
    });
  });
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("PgClusterEvents", () => {
  it("carries an event from one replica to another in under a second; the publisher runs its own handlers once, at once", async () => {
    const a = await start("replica-a");
    const b = await start("replica-b");
    const onA: string[] = [];
    a.subscribe((event, origin) => void onA.push(`${event.type}@${origin}`));
    const received = nextRemote(b);
    const sent = performance.now();
    await a.publish({ type: "environment_removed", environmentId: 42 });
    // Local handlers ran before publish resolved; NOTIFY comes back to A too and is ignored.
    expect(onA).toEqual(["environment_removed@replica-a"]);
    const { event, origin, at } = await received;
    const latencyMs = at - sent;
    expect(event).toEqual({ type: "environment_removed", environmentId: 42 });
    expect(origin).toBe("replica-a");
    expect(latencyMs).toBeLessThan(1000);
    console.log(`cluster event A -> B over LISTEN/NOTIFY: ${latencyMs.toFixed(1)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(onA).toEqual(["environment_removed@replica-a"]);
  });

  it("drops and logs a malformed announcement, then still delivers valid ones", async () => {
    const logs: string[] = [];
    const b = await start("replica-b", logs);
    const seen: ClusterEvent[] = [];
    b.subscribe((event) => void seen.push(event));
    for (const payload of ["not json", JSON.stringify({ origin: "x", event: { type: "drop_tables" } }), JSON.stringify({ event: { type: "settings_changed" } }), JSON.stringify({ origin: "x", event: { type: "environment_removed", environmentId: -1 } })]) {
      await sqlOn(url, "SELECT pg_notify($1, $2)", [clusterEventsChannel, payload]);
    }
    await sqlOn(url, "SELECT pg_notify($1, $2)", [clusterEventsChannel, JSON.stringify({ origin: "operator", event: { type: "settings_changed" } })]);
    await until(() => seen.length > 0, 2000);
    expect(seen).toEqual([{ type: "settings_changed" }]);
    expect(logs.filter((line) => line.includes("dropped a malformed announcement"))).toHaveLength(4);
  });

  it("reconnects its listener after pg_terminate_backend, resynchronises, and receives again", async () => {
    const logs: string[] = [];
    const a = await start("replica-a");
    const b = await start("replica-b", logs);
    let resyncs = 0;
    b.onResync(() => void resyncs++);
    // Precondition: B's listener is up and receives.
    const first = nextRemote(b);
    await a.publish({ type: "settings_changed" });
    await first;
    expect(resyncs).toBe(0);

    const terminated = await sqlOn<{ ok: boolean }>(url, "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", ["pier-events replica-b"]);
    expect(terminated).toEqual([{ ok: true }]);
    const cutAt = performance.now();
    await until(() => resyncs === 1, 5000);
    console.log(`cluster events listener back and resynchronised ${(performance.now() - cutAt).toFixed(0)} ms after pg_terminate_backend`);
    expect(b.listening).toBe(true);
    expect(logs.some((line) => line.startsWith("warn: cluster events: lost the listening connection"))).toBe(true);
    expect(logs.some((line) => line.includes("password"))).toBe(false);

    const again = nextRemote(b);
    await a.publish({ type: "files_changed", prefix: "mtls/" });
    expect((await again).event).toEqual({ type: "files_changed", prefix: "mtls/" });
  });

  it("refuses an announcement over 8000 bytes before running anything", async () => {
    const a = await start("replica-a");
    let ran = 0;
    a.subscribe(() => void ran++);
    await expect(a.publish({ type: "files_changed", prefix: "x".repeat(8000) })).rejects.toThrow(/announcements hold at most 8000/);
    expect(ran).toBe(0);
    await a.publish({ type: "files_changed", prefix: "x".repeat(100) });
    expect(ran).toBe(1);
  });

  it("fails to start with unavailable, naming host and port but never the password, when PostgreSQL is unreachable", async () => {
    const unreachable = "postgres://pier:s3cret-pass@127.0.0.1:1/pier";
    const error = await PgClusterEvents.start({ url: unreachable }).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code?: string },
    );
    if (error === undefined) throw new Error("expected PgClusterEvents.start to fail");
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("127.0.0.1:1/pier");
    expect(error.message).not.toContain("s3cret-pass");
    expect(describePostgresUrl(unreachable)).toBe("127.0.0.1:1/pier");
    expect(describePostgresUrl("postgres:///pier?host=/run/postgresql")).toBe("/run/postgresql:5432/pier");
  });
});

describe("the listener's reconnection log during a long outage", () => {
  it("says it is still cut off at the 5th, 10th, 20th, 40th… attempt, not every 5th (a line every 25 s of an outage)", () => {
    const reported = Array.from({ length: 400 }, (_, index) => index + 1).filter(reportsReconnectAttempt);
    expect(reported).toEqual([5, 10, 20, 40, 80, 160, 320]);
  });
});
