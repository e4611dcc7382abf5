import { createServer } from "node:net";
import { describe, expect, inject, it } from "vitest";
import { openDatabase } from "./database.ts";
import { latestSchemaVersion, migrations, postgresMigrations } from "./migrations.ts";
import { openStore } from "./open-store.ts";
import { describeOnEngines } from "./store-engines.testkit.ts";

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("migration lists", () => {
  it("end at the same version on both engines, the shared steps alike", () => {
    expect(latestSchemaVersion(postgresMigrations)).toBe(latestSchemaVersion(migrations));
    // PostgreSQL starts at SQLite's version 7; from there on, the same steps by the same names.
    expect(postgresMigrations[0]?.version).toBe(7);
    expect(postgresMigrations.slice(1).map(({ version, name }) => ({ version, name }))).toEqual(migrations.slice(7).map(({ version, name }) => ({ version, name })));
  });
});

describeOnEngines("opening a store", (engine) => {
  it("refuses a database written by a newer Pier, with both versions, and changes nothing", async () => {
    const target = await engine.target();
    await (await engine.open(target)).close();
    await engine.sql(target, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [99, "from the future", Date.now()]);

    const failure = openStore(target);
    await expect(failure).rejects.toMatchObject({ code: "store_failed", details: { schemaVersion: 99, supportedVersion: latestSchemaVersion() } });
    await expect(failure).rejects.toThrow(`The database is at schema version 99, but this Pier knows versions up to ${latestSchemaVersion()}: it was written by a newer Pier.`);
    const versions = await engine.sql<{ version: number }>(target, "SELECT version FROM schema_migrations ORDER BY version");
    expect(versions.map((row) => Number(row.version)).at(-1)).toBe(99);
  });

  it("applies each step once when several servers open the same new database at once", async () => {
    const target = await engine.target();
    const stores = await Promise.all([openStore(target), openStore(target), openStore(target), openStore(target)]);
    for (const store of stores) await store.close();
    const rows = await engine.sql<{ version: number }>(target, "SELECT version FROM schema_migrations ORDER BY version");
    const expected = (engine.dialect === "sqlite" ? migrations : postgresMigrations).map((migration) => migration.version);
    expect(rows.map((row) => Number(row.version))).toEqual(expected);
  });
});

describe("opening a PostgreSQL store that cannot be used", () => {
  it("names host, port, database and cause of an unreachable server as unavailable, never the password", async () => {
    const port = await closedPort();
    const failure = openStore({ url: `postgres://pier:s3cret-pw@127.0.0.1:${port}/pier` });
    await expect(failure).rejects.toMatchObject({ name: "ServerError", code: "unavailable" });
    const message = await failure.catch((error: unknown) => String(error));
    expect(message).toContain(`Cannot reach PostgreSQL at 127.0.0.1:${port}/pier: connect ECONNREFUSED`);
    expect(message).toContain("Check --database-url (PIER_DATABASE_URL)");
    expect(message).not.toContain("s3cret-pw");
  });

  it("refuses a URL that is not a postgres:// URL as bad_request naming the flag", async () => {
    await expect(openDatabase({ url: "mysql://pier:pw@db/pier" })).rejects.toMatchObject({ code: "bad_request", field: "database-url", message: "--database-url (PIER_DATABASE_URL) must start with postgres:// or postgresql:// (got mysql://)." });
    await expect(openDatabase({ url: "not a url" })).rejects.toMatchObject({ code: "bad_request", message: "--database-url (PIER_DATABASE_URL) is not a valid URL." });
  });

  it("says the login was refused for a wrong password, without showing it", async () => {
    const url = new URL(inject("postgresUrl"));
    // Precondition: the right password opens the database.
    await (await openDatabase({ url: url.toString() })).close();
    url.password = "wrong-Password-42";
    const failure = openDatabase({ url: url.toString() });
    await expect(failure).rejects.toMatchObject({ code: "unavailable" });
    const message = await failure.catch((error: unknown) => String(error));
    expect(message).toContain(`refused the login of user "${decodeURIComponent(url.username)}"`);
    expect(message).toContain("password authentication failed");
    expect(message).not.toContain("wrong-Password-42");
  });
});
