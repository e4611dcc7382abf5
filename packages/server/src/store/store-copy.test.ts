import { DatabaseSync } from "node:sqlite";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateSecret } from "../auth/jwt.ts";
import { defaultServerNames, ensureBuiltInTls } from "../bootstrap/built-in-tls.ts";
import { ClusterFiles } from "../cluster/cluster-files.ts";
import { freshPostgresDatabase, sqlOn } from "../cluster/postgres-database.testkit.ts";
import { SecretBox } from "../cluster/secret-box.ts";
import { summarizeDockerSnapshot } from "../docker/docker-summary.ts";
import { ServerError } from "../errors.ts";
import { deviceCertificateRows } from "./device-certificate-row.testkit.ts";
import { openStore } from "./open-store.ts";
import { sampleSnapshot } from "./snapshot.testkit.ts";
import { copyStore } from "./store-copy.ts";
import { RegistryService, registrySecretBox } from "../fleet/registries.ts";
import { tempDir, type TempDir } from "./temp-dir.testkit.ts";

const day = 24 * 60 * 60 * 1000;
let dir: TempDir;
let dataDir: string;
let secretFile: string;

beforeAll(async () => {
  dir = tempDir("store-copy");
  dataDir = dir.file("data");
  mkdirSync(dataDir, { mode: 0o700 });
  secretFile = dir.file("secret");
  writeFileSync(secretFile, "k".repeat(40), { mode: 0o600 });
  chmodSync(secretFile, 0o600);
  // A single server's --data: its store with one of everything, its built-in TLS, JWT secret and an uploaded mTLS set.
  const store = await openStore({ path: join(dataDir, "pier.db") });
  try {
    await store.environments.create({ name: "first", type: "edge-agent", edgeId: "edge-1", enrollmentCsr: Buffer.from([0x30, 0x82, 0x00, 0xff]) });
    const second = await store.environments.create({ name: "second", type: "edge-agent", edgeId: "edge-2" });
    // A removed environment: its id is never reused, on SQLite (AUTOINCREMENT) nor after the copy.
    const removed = await store.environments.create({ name: "removed", type: "edge-agent", edgeId: "edge-3" });
    await store.environments.delete(removed.id);
    const user = await store.users.create({ username: "admin", passwordHash: "hash-of-admin", role: "admin" });
    await store.apiTokens.create({ userId: user.id, description: "ci", tokenHash: "c".repeat(64), prefix: "pier_ci", scope: "admin", expiresAt: new Date(Date.now() + 86_400_000) });
    await store.settings.update({ edgeAgentCheckinInterval: 42, trustOnFirstConnect: true });
    await store.audit.append({ kind: "associated", environmentId: second.id, edgeId: "edge-2", detail: { by: "admin" } });
    // More rows than one batch of the copy (200), so it reads and writes in several.
    for (let n = 0; n < 450; n += 1) await store.audit.append({ kind: "login_failed", detail: { n } });
    const snapshot = sampleSnapshot();
    await store.snapshots.put(second.id, snapshot, new Date(1_770_000_000_000), summarizeDockerSnapshot(snapshot));
    await store.certificates.insert(deviceCertificateRows(Date.now())("0a1b", second.id, "edge-2", 30 * day, 20 * day));
    await store.logins.revoke("jti-logged-out", new Date(Date.now() + day));
    // Tags and edge groups (migration 11): a removed tag's id is not given again either.
    const tag = await store.tags.create("site");
    await store.tags.delete((await store.tags.create("removed tag")).id);
    await store.tags.setEnvironmentTags(second.id, [tag.id]);
    await store.edgeGroups.create({ name: "static", dynamic: false, partialMatch: false, tagIds: [], environmentIds: [second.id] });
    await store.edgeGroups.create({ name: "dynamic", dynamic: true, partialMatch: false, tagIds: [tag.id], environmentIds: [] });
    await store.edgeGroups.setRequest(1, ["static"]);
    // Edge jobs (migration 14): 250 group rows of one job span two batches of a composite key.
    const job = await store.edgeJobs.create({ name: "df", cronExpression: "0 * * * *", recurring: true, script: "df -h /host", groupIds: Array.from({ length: 250 }, (_, i) => i + 1), environmentIds: [second.id] }, new Date(1_770_000_000_000));
    await store.edgeJobs.remove((await store.edgeJobs.create({ name: "removed job", cronExpression: "0 * * * *", recurring: false, script: "true", groupIds: [1], environmentIds: [] }, new Date())).id);
    await store.edgeJobs.recordRun(job.id, second.id, { version: 1, startedAt: new Date(1_770_000_001_000), finishedAt: new Date(1_770_000_002_000), exitCode: 0 });
    await store.edgeJobs.requestLogs(job.id, second.id);
    await store.edgeJobs.storeLogs(job.id, second.id, "Filesystem\n", new Date(1_770_000_003_000));
  } finally {
    await store.close();
  }
  await ensureBuiltInTls(dataDir, defaultServerNames());
  loadOrCreateSecret(join(dataDir, "secrets", "jwt.key"));
  mkdirSync(join(dataDir, "mtls"), { mode: 0o700 });
  writeFileSync(join(dataDir, "mtls", "ca.crt"), "uploaded client CA", { mode: 0o600 });
});
afterAll(async () => {
  await dir[Symbol.asyncDispose]();
});

describe("copyStore", () => {
  it("copies every record into PostgreSQL keeping ids, continues ids after the largest, and refuses a second copy", async () => {
    const url = await freshPostgresDatabase("copy");
    const before = await sqlOn(url, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'environments'");
    expect(Number(before[0]?.n)).toBe(0); // precondition: an empty database

    const result = await copyStore({ from: join(dataDir, "pier.db"), to: url });
    expect(result.rows).toMatchObject({ environments: 2, users: 1, api_tokens: 1, settings: 1, audit_events: 451, snapshots: 1, device_certificates: 1, revoked_logins: 1 });
    expect(result.files).toEqual([]);

    const copied = await openStore({ url });
    try {
      const environments = await copied.environments.list();
      expect(environments.map((environment) => [environment.id, environment.name, environment.edgeId])).toEqual([
        [1, "first", "edge-1"],
        [2, "second", "edge-2"],
      ]);
      expect(environments[0]?.enrollmentCsr).toEqual(Buffer.from([0x30, 0x82, 0x00, 0xff]));
      const user = await copied.users.getByUsername("admin");
      expect(user).toMatchObject({ id: 1, passwordHash: "hash-of-admin", role: "admin" });
      expect(await copied.apiTokens.findByHash("c".repeat(64))).toMatchObject({ userId: 1, description: "ci", prefix: "pier_ci" });
      expect(await copied.settings.get()).toMatchObject({ edgeAgentCheckinInterval: 42, trustOnFirstConnect: true });
      const audit = await copied.audit.list({ limit: 1000 });
      expect(audit).toHaveLength(451);
      expect(audit.find((event) => event.id === 1)).toMatchObject({ kind: "associated", environmentId: 2, edgeId: "edge-2", detail: { by: "admin" } });
      expect(audit.find((event) => event.id === 451)).toMatchObject({ kind: "login_failed", detail: { n: 449 } });
      expect((await copied.snapshots.get(2))?.snapshot).toEqual(sampleSnapshot());
      expect(await copied.certificates.get("0a1b")).toMatchObject({ environmentId: 2, edgeId: "edge-2" });
      expect((await copied.logins.list(new Date())).map((login) => login.jti)).toEqual(["jti-logged-out"]);
      expect(await copied.tags.list()).toEqual([{ id: 1, name: "site" }]);
      expect(await copied.tags.tagsOf([2])).toEqual(new Map([[2, [1]]]));
      expect((await copied.edgeGroups.list()).map((group) => [group.id, group.name, group.tagIds, group.environmentIds])).toEqual([
        [1, "static", [], [2]],
        [2, "dynamic", [1], []],
      ]);
      expect(await copied.edgeGroups.requestsOf([1])).toEqual(new Map([[1, ["static"]]]));
      expect((await copied.tags.create("next")).id).toBe(3);
      expect(await copied.edgeJobs.get(1)).toMatchObject({ name: "df", version: 1, environmentIds: [2], createdAt: new Date(1_770_000_000_000) });
      expect((await copied.edgeJobs.get(1))?.groupIds).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
      expect(await copied.edgeJobs.tasks(1)).toEqual([{ jobId: 1, environmentId: 2, logsStatus: 3, logsCollectedAt: new Date(1_770_000_003_000), lastRun: { version: 1, startedAt: new Date(1_770_000_001_000), finishedAt: new Date(1_770_000_002_000), exitCode: 0 } }]);
      expect((await copied.edgeJobs.logs(1, 2))?.content).toBe("Filesystem\n");
      expect((await copied.edgeJobs.create({ name: "next", cronExpression: "0 * * * *", recurring: true, script: "true", groupIds: [1], environmentIds: [] }, new Date())).id).toBe(3);

      // Ids continue after the largest SQLite ever gave: 3 was removed there, and is not given again (an EDGE_KEY may name it).
      const next = await copied.environments.create({ name: "new", type: "edge-agent", edgeId: "edge-new" });
      expect(next.id).toBe(4);
      expect((await copied.users.create({ username: "second", passwordHash: "h" })).id).toBe(2);
    } finally {
      await copied.close();
    }

    const again = copyStore({ from: join(dataDir, "pier.db"), to: url });
    await expect(again).rejects.toBeInstanceOf(ServerError);
    await expect(again).rejects.toMatchObject({ code: "conflict" });
    await expect(again).rejects.toThrow(/already holds 3 environments, 2 users.*nothing was copied/);
    expect(Number((await sqlOn(url, "SELECT count(*) AS n FROM environments"))[0]?.n)).toBe(3);
  });

  it("with a secret file, stores the CA, server key, JWT secret and mTLS set sealed, as a replica would read them", async () => {
    const url = await freshPostgresDatabase("copyfiles");
    const result = await copyStore({ from: join(dataDir, "pier.db"), to: url, secretFile });
    expect(result.files).toEqual(["ca/ca-state.json", "ca/ca.crt", "ca/ca.key", "mtls/ca.crt", "secrets/jwt.key", "tls/server.key"]);

    // Sealed: the server key is not in the database in clear.
    const key = readFileSync(join(dataDir, "tls", "server.key"));
    const [row] = await sqlOn<{ content: Buffer }>(url, "SELECT content FROM cluster_files WHERE name = 'tls/server.key'");
    expect(row?.content.includes(key.subarray(0, 64))).toBe(false);

    // A replica's bootstrap on that database writes the same files to its own --data.
    const replicaData = dir.file("replica");
    mkdirSync(replicaData, { mode: 0o700 });
    const store = await openStore({ url });
    try {
      const files = new ClusterFiles({ store: store.cluster, box: new SecretBox(Buffer.from("k".repeat(40))), dataDir: replicaData });
      expect(await files.bootstrap(() => Promise.reject(new Error("the replica must not create its own files")))).toBe("materialized");
      await files.materialize("mtls/");
    } finally {
      await store.close();
    }
    for (const name of ["ca/ca.crt", "ca/ca.key", "tls/server.key", "secrets/jwt.key", "mtls/ca.crt"]) {
      expect(readFileSync(join(replicaData, name)).equals(readFileSync(join(dataDir, name))), name).toBe(true);
    }
  });

  it("re-seals registry passwords from DATA/secrets/registry.key to the secret file (a replica reads them); refuses without a secret file", async () => {
    const single = dir.file("registry-data");
    mkdirSync(single, { mode: 0o700 });
    const registryPassword = "pw-only-in-the-sealed-column";
    const source = await openStore({ path: join(single, "pier.db") });
    try {
      const service = new RegistryService({ store: source.registries, box: registrySecretBox({ dataDir: single }), changes: { changed: () => Promise.resolve() }, log: () => undefined });
      await service.create({ name: "lab", url: "registry.lab:5000", authentication: true, username: "ci", password: registryPassword });
      await service.create({ name: "open", url: "mirror.lab", authentication: false });
    } finally {
      await source.close();
    }
    await ensureBuiltInTls(single, defaultServerNames());
    loadOrCreateSecret(join(single, "secrets", "jwt.key"));

    const refusedUrl = await freshPostgresDatabase("copyregnosecret");
    await expect(copyStore({ from: join(single, "pier.db"), to: refusedUrl })).rejects.toMatchObject({ code: "bad_request", field: "--secret-file" });
    expect(await sqlOn(refusedUrl, "SELECT id FROM registries")).toEqual([]);

    const url = await freshPostgresDatabase("copyregistries");
    const result = await copyStore({ from: join(single, "pier.db"), to: url, secretFile });
    expect(result.rows["registries"]).toBe(2);
    const replica = await openStore({ url });
    try {
      const onReplica = new RegistryService({ store: replica.registries, box: new SecretBox(Buffer.from("k".repeat(40))), changes: { changed: () => Promise.resolve() }, log: () => undefined });
      expect(await onReplica.credentialsFor([1, 2])).toEqual([{ serverAddress: "registry.lab:5000", username: "ci", password: registryPassword }]);
      // A new registry continues after the copied ids.
      expect((await onReplica.create({ name: "third", url: "third.lab", authentication: false })).id).toBe(3);
    } finally {
      await replica.close();
    }
  });

  it("refuses a SQLite store holding a table it does not know (a later migration's), and copies nothing", async () => {
    const url = await freshPostgresDatabase("copyunknown");
    const path = dir.file("unknown.db");
    const store = await openStore({ path });
    await store.environments.create({ name: "kept", type: "edge-agent" });
    await store.close();
    const sqlite = new DatabaseSync(path);
    sqlite.exec("CREATE TABLE future_things (id INTEGER PRIMARY KEY)");
    expect(sqlite.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'future_things'").get()).toEqual({ n: 1 });
    sqlite.close();
    const refused = copyStore({ from: path, to: url });
    await expect(refused).rejects.toMatchObject({ code: "internal" });
    await expect(refused).rejects.toThrow("does not know the table(s) future_things");
    expect(Number((await sqlOn(url, "SELECT count(*) AS n FROM environments"))[0]?.n)).toBe(0);
  });

  it("refuses a target where a replica already stored cluster files, and copies nothing", async () => {
    const url = await freshPostgresDatabase("copyrefused");
    const store = await openStore({ url });
    try {
      await store.cluster.putFiles([{ name: "secrets/jwt.key", content: Buffer.from("sealed elsewhere") }], new Date());
    } finally {
      await store.close();
    }
    const refused = copyStore({ from: join(dataDir, "pier.db"), to: url, secretFile });
    await expect(refused).rejects.toMatchObject({ code: "conflict" });
    await expect(refused).rejects.toThrow("already holds 1 cluster files");
    expect(Number((await sqlOn(url, "SELECT count(*) AS n FROM environments"))[0]?.n)).toBe(0);
  });
});
