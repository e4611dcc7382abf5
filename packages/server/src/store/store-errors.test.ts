import { sql } from "kysely";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { openDatabase } from "./database.ts";

describe("store errors on PostgreSQL", () => {
  it("a connection the server ends mid-query is unavailable, saying Pier retries; the next query works", async () => {
    const database = await openDatabase({ url: inject("postgresUrl") });
    try {
      const marker = `pier_store_errors_${process.pid}_${Date.now()}`;
      // The marker is in the statement's text (not a parameter) so pg_stat_activity shows it.
      const running = database.run((db) => sql.raw(`SELECT pg_sleep(10), '${marker}' AS marker`).execute(db)).then(
        () => null,
        (error: unknown) => error,
      );
      const admin = new pg.Client({ connectionString: inject("postgresUrl") });
      await admin.connect();
      try {
        // The query is seen running (precondition), then its backend is ended as a restart would.
        let ended = 0;
        for (let i = 0; i < 100 && ended === 0; i++) {
          const result = await admin.query<{ ended: boolean }>("SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]);
          ended = result.rows.filter((row) => row.ended).length;
          if (ended === 0) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(ended).toBe(1);
      } finally {
        await admin.end();
      }
      // The one answer for an unreachable database (store-errors.ts databaseUnreachable); the driver's text stays in the cause.
      expect(await running).toMatchObject({ name: "ServerError", code: "unavailable", message: "Pier's database cannot be reached right now, so this request could not be carried out.", fix: expect.stringMatching(/Pier reconnects by itself/) as unknown, details: { retryAfterSeconds: 5 } });
      expect(((await running) as { cause?: Error }).cause?.message).toMatch(/terminating connection due to administrator command/);
      const again = await database.run((db) => sql<{ one: number }>`SELECT 1 AS one`.execute(db));
      expect(again.rows).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
  });

  it("a connection ended while a transaction holds it between queries fails that transaction as unavailable, not the process", async () => {
    const database = await openDatabase({ url: inject("postgresUrl") });
    // Node ends the process on an "error" event nobody listens to; vitest reports it as an unhandled error.
    const crashes: unknown[] = [];
    const onUncaught = (error: unknown) => crashes.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      const failure = database.run((db) =>
        db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
          const admin = new pg.Client({ connectionString: inject("postgresUrl") });
          await admin.connect();
          try {
            // No query is in flight on the transaction's connection while its backend is ended.
            const ended = await admin.query<{ ended: boolean }>("SELECT pg_terminate_backend($1) AS ended", [rows[0]?.pid]);
            expect(ended.rows[0]?.ended).toBe(true);
          } finally {
            await admin.end();
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
          await sql`SELECT 1`.execute(trx);
        }),
      );
      await expect(failure).rejects.toMatchObject({ code: "unavailable" });
      expect(crashes).toEqual([]);
      const again = await database.run((db) => sql<{ one: number }>`SELECT 1 AS one`.execute(db));
      expect(again.rows).toEqual([{ one: 1 }]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await database.close();
    }
  });

  it("a unique violation nobody mapped is a conflict, anything else store_failed", async () => {
    const database = await openDatabase({ url: inject("postgresUrl") });
    try {
      const table = `pier_errors_${process.pid}_${Date.now()}`;
      await database.run((db) => sql.raw(`CREATE TEMPORARY TABLE ${table} (id INT PRIMARY KEY)`).execute(db));
      // A temporary table lives on one connection: both inserts go through one transaction.
      const failure = database.run((db) =>
        db.transaction().execute(async (trx) => {
          await sql.raw(`CREATE TEMPORARY TABLE IF NOT EXISTS ${table} (id INT PRIMARY KEY)`).execute(trx);
          await sql.raw(`INSERT INTO ${table} VALUES (1)`).execute(trx);
          await sql.raw(`INSERT INTO ${table} VALUES (1)`).execute(trx);
        }),
      );
      await expect(failure).rejects.toMatchObject({ code: "conflict" });
      await expect(database.run((db) => sql.raw("SELECT no_such_column FROM pg_class").execute(db))).rejects.toMatchObject({ code: "store_failed", message: expect.stringContaining('The database failed: column "no_such_column" does not exist') as unknown });
    } finally {
      await database.close();
    }
  });
});
