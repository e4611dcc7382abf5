import { describe, expect, inject, it } from "vitest";
import { ServerError } from "../errors.ts";
import { freshPostgresDatabase } from "../cluster/postgres-database.testkit.ts";
import { DatabaseAvailability } from "./database-availability.ts";
import { openStore } from "./open-store.ts";
import { databaseUnreachable, isDatabaseUnreachable, storeError } from "./store-errors.ts";
import { startTcpCut } from "./tcp-cut.testkit.ts";

/** A new database in the run's PostgreSQL, and its URL through `port` (the relay) instead of PostgreSQL's own. */
async function databaseThrough(port: number): Promise<{ url: string; name: string }> {
  const url = new URL(await freshPostgresDatabase("availability"));
  url.port = String(port);
  return { url: url.toString(), name: url.pathname.slice(1) };
}

describe("the database unreachable (PostgreSQL stopped, as a cut relay shows it)", () => {
  it("every query fails at once with the one 503 answer (Retry-After, no driver text), the log says it once, and it answers again by itself", async () => {
    const target = new URL(inject("postgresUrl"));
    await using relay = await startTcpCut(target.hostname, Number(target.port));
    const { url, name } = await databaseThrough(relay.port);
    const logs: { level: string; message: string }[] = [];
    let reachableAgain = 0;
    const store = await openStore({ url }, { log: (level, message) => logs.push({ level, message }), onReachableAgain: () => reachableAgain++ });
    try {
      expect(await store.users.count()).toBe(0);
      await relay.cut();
      const failures: unknown[] = [];
      for (let attempt = 0; attempt < 6; attempt++) {
        const started = performance.now();
        failures.push(await store.users.count().then(() => undefined, (error: unknown) => error));
        // Refused at once (ECONNREFUSED), never a hang until the pool's 10 s connect timeout.
        expect(performance.now() - started).toBeLessThan(3000);
      }
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(ServerError);
        expect(isDatabaseUnreachable(failure)).toBe(true);
        const error = failure as ServerError;
        expect(error.status).toBe(503);
        expect(error.message).toBe("Pier's database cannot be reached right now, so this request could not be carried out.");
        expect(error.fix).toMatch(/^Try again in 5 s: Pier reconnects by itself/);
        expect(error.details).toEqual({ retryAfterSeconds: 5, reason: "database_unreachable" });
      }
      // Said once, naming the database and the cause, never the password.
      expect(logs).toHaveLength(1);
      expect(logs[0]?.level).toBe("error");
      expect(logs[0]?.message).toContain(`database: PostgreSQL at 127.0.0.1:${relay.port}/${name} cannot be reached (`);
      expect(logs[0]?.message).not.toContain(target.password);

      await relay.restore();
      const deadline = Date.now() + 10_000;
      let count: number | undefined;
      while (count === undefined && Date.now() < deadline) count = await store.users.count().catch(() => undefined);
      expect(count).toBe(0);
      expect(reachableAgain).toBe(1);
      expect(logs).toHaveLength(2);
      expect(logs[1]?.level).toBe("info");
      expect(logs[1]?.message).toMatch(new RegExp(`^database: PostgreSQL at 127\\.0\\.0\\.1:${relay.port}/${name} answers again after \\d+\\.\\d s; \\d+ operation\\(s\\) were refused meanwhile$`));
    } finally {
      await store.close();
    }
  });
});

describe("DatabaseAvailability", () => {
  it("logs the start of an outage once and its end once; a success that started before the outage ends nothing", () => {
    let now = 1000;
    const logs: string[] = [];
    let reachableAgain = 0;
    const availability = new DatabaseAvailability({ where: "db:5432/pier", log: (level, message) => logs.push(`${level} ${message}`), onReachableAgain: () => reachableAgain++, now: () => now });
    const lost = databaseUnreachable(Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" }));
    availability.failed(new ServerError("conflict", "This record already exists."));
    expect(availability.down).toBe(false);
    availability.failed(lost);
    availability.failed(lost);
    availability.failed(storeError(Object.assign(new Error("Connection terminated unexpectedly"), {})));
    expect(logs).toEqual([expect.stringMatching(/^error database: PostgreSQL at db:5432\/pier cannot be reached \(connect ECONNREFUSED 10\.0\.0\.5:5432\): requests that need it answer 503 unavailable/)]);
    availability.succeeded(999);
    expect(availability.down).toBe(true);
    expect(reachableAgain).toBe(0);
    now = 31_500;
    availability.succeeded(31_000);
    expect(availability.down).toBe(false);
    expect(logs[1]).toBe("info database: PostgreSQL at db:5432/pier answers again after 30.5 s; 3 operation(s) were refused meanwhile");
    availability.succeeded(32_000);
    expect(logs).toHaveLength(2);
    // Once per outage: the server flushes the check-ins that waited in memory.
    expect(reachableAgain).toBe(1);
  });
});
