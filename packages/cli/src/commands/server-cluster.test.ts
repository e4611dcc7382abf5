import { describe, expect, it } from "vitest";
import { clusterConfig, databaseLocation } from "./server-cluster.ts";

const url = "postgres://pier:Sup3r-Secret@db.example.com:5433/pier";

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("expected a failure");
}

describe("pier server cluster flags", () => {
  it("without a database URL: no cluster (SQLite in --data, as before)", () => {
    expect(clusterConfig({}, {})).toBeUndefined();
  });

  it("reads --database-url and --secret-file, else PIER_DATABASE_URL and PIER_SECRET_FILE; peer defaults 0.0.0.0:9445", () => {
    expect(clusterConfig({ "database-url": url, "secret-file": "/s" }, {})).toEqual({ databaseUrl: url, secretFile: "/s", peerHost: "0.0.0.0", peerPort: 9445 });
    expect(clusterConfig({}, { PIER_DATABASE_URL: "postgresql://db/pier", PIER_SECRET_FILE: "/e", PIER_PEER_ADDRESS: "pier-0.pier:9445" })).toEqual({
      databaseUrl: "postgresql://db/pier",
      secretFile: "/e",
      peerHost: "0.0.0.0",
      peerPort: 9445,
      peerAddress: "pier-0.pier:9445",
    });
    expect(
      clusterConfig({ "database-url": url, "secret-file": "/flag", "peer-bind": "127.0.0.1:0", "peer-address": "[::1]:7000", "replica-name": "pier-1" }, { PIER_DATABASE_URL: "postgres://other/x", PIER_SECRET_FILE: "/env" }),
    ).toEqual({ databaseUrl: url, secretFile: "/flag", peerHost: "127.0.0.1", peerPort: 0, peerAddress: "[::1]:7000", replicaName: "pier-1" });
  });

  it("requires a secret file with a database URL, naming both", () => {
    const error = failure(() => clusterConfig({ "database-url": url }, {}));
    expect(error.code).toBe("usage");
    expect(error.message).toMatch(/^--database-url needs --secret-file \(or PIER_SECRET_FILE\)/);
    expect(failure(() => clusterConfig({}, { PIER_DATABASE_URL: url })).message).toMatch(/^PIER_DATABASE_URL needs --secret-file/);
  });

  it("refuses a URL that is not postgres:// or postgresql://, naming the flag and never echoing the URL (its password)", () => {
    for (const bad of ["mysql://pier:Sup3r-Secret@db/pier", "db.example.com:5432", "http://pier:Sup3r-Secret@db/"]) {
      const error = failure(() => clusterConfig({ "database-url": bad, "secret-file": "/s" }, {}));
      expect(error.code).toBe("usage");
      expect(error.message).toMatch(/^--database-url needs a PostgreSQL URL, postgres:\/\//);
      expect(error.message).not.toContain("Sup3r-Secret");
    }
    expect(failure(() => clusterConfig({}, { PIER_DATABASE_URL: "sqlite:///x", PIER_SECRET_FILE: "/s" })).message).toMatch(/^PIER_DATABASE_URL needs a PostgreSQL URL.*got a sqlite: URL\.$/);
  });

  it("refuses cluster flags without a database URL, and malformed peer flags and names", () => {
    expect(failure(() => clusterConfig({ "secret-file": "/s", "peer-bind": "0.0.0.0:9445" }, {})).message).toBe("--secret-file, --peer-bind only apply with --database-url (PIER_DATABASE_URL): several replicas on one PostgreSQL.");
    expect(failure(() => clusterConfig({ "database-url": url, "secret-file": "/s", "peer-bind": "9445" }, {})).message).toBe('--peer-bind needs HOST:PORT (e.g. 0.0.0.0:9445), got "9445".');
    expect(failure(() => clusterConfig({ "database-url": url, "secret-file": "/s", "peer-address": "pier-0:70000" }, {})).message).toMatch(/^--peer-address needs HOST:PORT/);
    expect(failure(() => clusterConfig({ "database-url": url, "secret-file": "/s", "peer-address": "pier-0:0" }, {})).message).toMatch(/not 0/);
    expect(failure(() => clusterConfig({ "database-url": url, "secret-file": "/s", "replica-name": "a b" }, {})).message).toMatch(/^--replica-name needs 1 to 63 letters/);
  });

  it("shows the database without the password in the start-up line", () => {
    expect(databaseLocation(url)).toBe("PostgreSQL db.example.com:5433/pier");
    expect(databaseLocation("postgresql://db")).toBe("PostgreSQL db:5432/postgres");
    // As libpq reads a URL without host (and the store accepts it): localhost, or ?host=.
    expect(databaseLocation("postgres:///pier?host=/var/run/postgresql")).toBe("PostgreSQL /var/run/postgresql:5432/pier");
    expect(clusterConfig({ "database-url": "postgres:///pier", "secret-file": "/s" }, {})?.databaseUrl).toBe("postgres:///pier");
  });
});
