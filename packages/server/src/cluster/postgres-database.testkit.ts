import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/**
 * A new, empty database in the test run's PostgreSQL (started by the vitest global setup),
 * named `prefix_<random>`; returns its URL.
 *
 * @example
 * const url = await freshPostgresDatabase("events");
 */
export async function freshPostgresDatabase(prefix: string): Promise<string> {
  const adminUrl = inject("postgresUrl");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Runs one statement on `url` on a connection of its own (a stand-in for an operator's psql).
 *
 * @example
 * await sqlOn(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", ["pier-events x"]);
 */
export async function sqlOn<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
