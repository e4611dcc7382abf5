import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateSecret } from "../auth/jwt.ts";
import { defaultServerNames, ensureBuiltInTls } from "../bootstrap/built-in-tls.ts";
import { ServerError } from "../errors.ts";
import type { SqlDatabase } from "../store/database.ts";
import { SqlClusterStore } from "../store/cluster-store.ts";
import { openMigratedDatabase } from "../store/open-store.ts";
import { LocalClusterEvents, type ClusterEvent } from "./cluster-events.ts";
import { ClusterFiles } from "./cluster-files.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";
import { SecretBox } from "./secret-box.ts";

const root = mkdtempSync(join(tmpdir(), "pier-cluster-files-"));
const databases: SqlDatabase[] = [];
let url: string;

beforeAll(async () => {
  url = await freshPostgresDatabase("files");
});
afterAll(async () => {
  await Promise.all(databases.map((database) => database.close()));
  rmSync(root, { recursive: true, force: true });
});

const secret = Buffer.from("s".repeat(40));
let replicas = 0;

/** One replica's view: its own database connections, its own --data, the shared secret. */
async function replica(options: { secret?: Buffer; events?: LocalClusterEvents } = {}) {
  const database = await openMigratedDatabase({ url });
  databases.push(database);
  const dataDir = join(root, `replica-${++replicas}`);
  mkdirSync(dataDir, { mode: 0o700 });
  const files = new ClusterFiles({ store: new SqlClusterStore(database), box: new SecretBox(options.secret ?? secret), dataDir, ...(options.events ? { events: options.events } : {}) });
  let creations = 0;
  // Today's single-server code, as the server's bootstrap runs it.
  const create = async () => {
    creations++;
    await ensureBuiltInTls(dataDir, defaultServerNames());
    loadOrCreateSecret(join(dataDir, "secrets", "jwt.key"));
  };
  return { database, dataDir, files, create, creations: () => creations, read: (name: string) => readFileSync(join(dataDir, name)) };
}

function spki(certificatePath: string): string {
  return new X509Certificate(readFileSync(certificatePath)).publicKey.export({ type: "spki", format: "der" }).toString("base64");
}

describe("ClusterFiles on PostgreSQL", () => {
  it("bootstraps the CA, server key and JWT secret exactly once when two replicas start together; the other writes them to its --data", async () => {
    const a = await replica();
    const b = await replica();
    // Precondition: nothing stored, nothing local.
    expect(await new SqlClusterStore(a.database).listFiles()).toEqual([]);
    expect(existsSync(join(a.dataDir, "ca", "ca.crt")) || existsSync(join(b.dataDir, "ca", "ca.crt"))).toBe(false);

    const outcomes = await Promise.all([a.files.bootstrap(a.create), b.files.bootstrap(b.create)]);
    expect(outcomes.sort()).toEqual(["created", "materialized"]);
    expect(a.creations() + b.creations()).toBe(1);
    for (const name of ["ca/ca.crt", "ca/ca.key", "tls/server.key", "secrets/jwt.key"]) expect(a.read(name).equals(b.read(name))).toBe(true);
    for (const replica of [a, b]) {
      for (const name of ["ca/ca.key", "tls/server.key", "secrets/jwt.key"]) expect(statSync(join(replica.dataDir, name)).mode & 0o777).toBe(0o600);
      for (const dir of ["ca", "tls", "secrets"]) expect(statSync(join(replica.dataDir, dir)).mode & 0o777).toBe(0o700);
    }

    // Stored sealed: no private key in the clear in the database; no per-replica certificate.
    const stored = await new SqlClusterStore(a.database).listFiles();
    expect(stored.map((file) => file.name)).toEqual(["ca/ca-state.json", "ca/ca.crt", "ca/ca.key", "secrets/jwt.key", "tls/server.key"]);
    for (const file of stored) expect(file.content.includes(Buffer.from("PRIVATE KEY"))).toBe(false);
    const jwt = a.read("secrets/jwt.key");
    expect(stored.find((file) => file.name === "secrets/jwt.key")?.content.includes(jwt)).toBe(false);

    // Each replica's own server certificate, from the shared CA, for the shared key: same SPKI pin.
    const second = a.creations() === 1 ? b : a;
    const issued = await ensureBuiltInTls(second.dataDir, defaultServerNames(["second.example"]));
    expect(issued.renewed).toBe(true);
    expect(spki(join(a.dataDir, "tls", "server.crt"))).toBe(spki(join(b.dataDir, "tls", "server.crt")));
    expect(readFileSync(join(second.dataDir, "tls", "server.crt"), "utf8")).not.toBe(readFileSync(join((second === a ? b : a).dataDir, "tls", "server.crt"), "utf8"));
  });

  it("a replica joining later finds them, and keeps its own CA bookkeeping when it already has the same CA", async () => {
    const c = await replica();
    expect(await c.files.bootstrap(c.create)).toBe("materialized");
    expect(c.creations()).toBe(0);
    writeFileSync(join(c.dataDir, "ca", "ca-state.json"), '{"format":"pier-ca/1","issued":[],"crlNumber":7}', { mode: 0o600 });
    expect(await c.files.bootstrap(c.create)).toBe("materialized");
    expect(c.read("ca/ca-state.json").toString()).toContain('"crlNumber":7');
  });

  it("refuses, with a clear error, a replica whose --secret-file differs", async () => {
    const wrong = await replica({ secret: Buffer.from("w".repeat(40)) });
    const error = await wrong.files.bootstrap(wrong.create).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).message).toContain("this replica's --secret-file differs from the one that encrypted the cluster's files");
    expect(wrong.creations()).toBe(0);
    expect(existsSync(join(wrong.dataDir, "ca"))).toBe(false);
  });

  it("publish stores a directory and announces files_changed; materialize writes it on another replica, and removes what was deleted", async () => {
    const events = new LocalClusterEvents("replica-a");
    const heard: ClusterEvent[] = [];
    events.subscribe((event) => void heard.push(event));
    const a = await replica({ events });
    const b = await replica();
    mkdirSync(join(a.dataDir, "mtls"), { mode: 0o700 });
    writeFileSync(join(a.dataDir, "mtls", "server.key"), "mtls key", { mode: 0o600 });
    writeFileSync(join(a.dataDir, "mtls", "ca.crt"), "mtls ca", { mode: 0o600 });
    // Precondition: B has none of it.
    expect(await b.files.materialize("mtls/")).toBe(false);
    expect(existsSync(join(b.dataDir, "mtls"))).toBe(false);

    expect(await a.files.publish("mtls/")).toBe(2);
    expect(heard).toEqual([{ type: "files_changed", prefix: "mtls/" }]);
    expect(await b.files.materialize("mtls/")).toBe(true);
    expect(b.read("mtls/server.key").toString()).toBe("mtls key");
    expect(statSync(join(b.dataDir, "mtls", "server.key")).mode & 0o777).toBe(0o600);
    expect(await b.files.materialize("mtls/")).toBe(false);

    rmSync(join(a.dataDir, "mtls"), { recursive: true });
    expect(await a.files.publish("mtls/")).toBe(0);
    expect(await b.files.materialize("mtls/")).toBe(true);
    expect(existsSync(join(b.dataDir, "mtls", "server.key"))).toBe(false);
    expect(existsSync(join(b.dataDir, "mtls", "ca.crt"))).toBe(false);
  });
});
