import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { encodeFrame } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { type RunningServer, type ServerConfig, startServer } from "../server.ts";
import { type TempDir, tempDir } from "../store/temp-dir.testkit.ts";
import { openServerStore, startCluster } from "./cluster-runtime.ts";
import { freshPostgresDatabase } from "./postgres-database.testkit.ts";

const password = "correct horse battery staple";

describe("Cluster.lastCheckIn", () => {
  it("reports the freshest check-in in memory on a single server, the stored one on replicas", async () => {
    const memory = (_id: number, stored: Date | null) => new Date((stored?.getTime() ?? 0) + 1500);
    const stored = new Date(1_765_000_000_000);
    await using dir = tempDir("cluster-check-in");
    const base = { bindHost: "127.0.0.1", bindPort: 0, tunnelPort: 0, dataDir: dir.file("data"), log: () => undefined } satisfies ServerConfig;
    const single = await startCluster(base, await openServerStore(base));
    expect(single.replicated).toBe(false);
    expect(single.lastCheckIn(memory)(1, stored)).toEqual(new Date(stored.getTime() + 1500));
    await single.close();

    writeFileSync(dir.file("secret"), "q".repeat(44), { mode: 0o600 });
    const replicaConfig: ServerConfig = { ...base, cluster: { databaseUrl: await freshPostgresDatabase("check_in"), secretFile: dir.file("secret"), peerHost: "127.0.0.1", peerPort: 0 } };
    const store = await openServerStore(replicaConfig);
    const replica = await startCluster(replicaConfig, store);
    try {
      expect(replica.replicated).toBe(true);
      expect(replica.lastCheckIn(memory)(1, stored)).toBe(stored);
      expect(replica.lastCheckIn(memory)(1, null)).toBeNull();
    } finally {
      await replica.close();
      await store.close();
    }
  });
});

describe("replicas on one PostgreSQL (startServer with --database-url)", () => {
  let dir: TempDir;
  let url: string;
  const servers: RunningServer[] = [];
  const logs: string[][] = [];
  let config: (name: string) => ServerConfig;
  /** The administrator's login, made on replica A (a login costs seconds of password hashing). */
  let token: string;

  beforeAll(async () => {
    dir = tempDir("replicas");
    url = await freshPostgresDatabase("replicas");
    writeFileSync(dir.file("secret"), "q".repeat(44), { mode: 0o600 });
    writeFileSync(dir.file("admin-password"), password);
    config = (name) => {
      const lines: string[] = [];
      logs.push(lines);
      return {
        bindHost: "127.0.0.1",
        bindPort: 0,
        tunnelPort: 0,
        dataDir: dir.file(`${name}/data`),
        adminPasswordFile: dir.file("admin-password"),
        cluster: { databaseUrl: url, secretFile: dir.file("secret"), peerHost: "127.0.0.1", peerPort: 0, replicaName: name },
        log: (level, message) => lines.push(`${level}: ${message}`),
      };
    };
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await dir[Symbol.asyncDispose]();
  });

  it("two replicas starting together share one built-in CA, server key (same EDGE_KEY pin), admin and JWT secret", async () => {
    const [a, b] = await Promise.all([startServer(config("a")), startServer(config("b"))]);
    servers.push(a, b);
    expect(a.replicaId).not.toBe(b.replicaId);
    const said = logs.flat().filter((line) => line.includes("shared files"));
    expect(said.filter((line) => line.includes("created by this replica"))).toHaveLength(1);
    expect(said.filter((line) => line.includes("taken from the database"))).toHaveLength(1);
    expect(a.edgeFingerprint()).toBe(b.edgeFingerprint());
    const caA = readFileSync(dir.file("a/data/ca/ca.crt"), "utf8");
    expect(readFileSync(dir.file("b/data/ca/ca.crt"), "utf8")).toBe(caA);

    // One admin (both replicas ran the first-admin set-up) and a login made on A works on B.
    expect(await a.store.users.count()).toBe(1);
    const onA = apiClient(() => a.httpsAddress.port, caA);
    token = await onA.login("admin", password);
    const onB = apiClient(() => b.httpsAddress.port, caA);
    expect((await onB.call("GET", "/api/settings", { token: null })).status).toBe(401);
    expect((await onB.call("GET", "/api/settings", { token })).status).toBe(200);
  });

  it("every replica reports the same check-in: the one stored by the replica holding the session", async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const ca = readFileSync(dir.file("a/data/ca/ca.crt"), "utf8");
    const onA: ApiClient = apiClient(() => a.httpsAddress.port, ca);
    const onB: ApiClient = apiClient(() => b.httpsAddress.port, ca);
    await using agent = await TestAgent.connect({ port: a.tunnelAddress.port, ca, edgeId: "heartbeat-1" });
    const id = agent.welcome.environmentId;
    const stored = async () => (await a.store.environments.get(id))?.lastCheckInAt?.getTime() ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const heartbeatAt = Date.now();
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 1 }));
    await agent.next("ack");
    // The heartbeat is in A's memory now, in the store after the next flush (every 2 s).
    const shown = async (api: ApiClient) => (await api.call("GET", `/api/endpoints/${id}`, { token })).json["LastCheckInDate"];
    const deadline = Date.now() + 5000;
    while ((await stored()) < heartbeatAt && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const flushed = await stored();
    expect(flushed).toBeGreaterThanOrEqual(heartbeatAt);
    expect(await shown(onA)).toBe(Math.floor(flushed / 1000));
    expect(await shown(onB)).toBe(Math.floor(flushed / 1000));
  });

  it("refuses to start a CA rotation on a replica (it would not reach the other replicas or the database)", async () => {
    const [a] = servers as [RunningServer];
    const onA = apiClient(() => a.httpsAddress.port, readFileSync(dir.file("a/data/ca/ca.crt"), "utf8"));
    // Precondition: the replica has a built-in CA, and the rotation routes answer.
    expect((await onA.call("GET", "/api/pki/rotation", { token })).status).toBe(200);
    const refused = await onA.call("POST", "/api/pki/rotation", { token, body: {} });
    expect(refused.status).toBe(409);
    expect(refused.json["message"]).toBe("Rotating the built-in CA is not supported yet while replicas share a database (--database-url): the new CA would exist on this replica only.");
    expect(existsSync(dir.file("a/data/ca-next"))).toBe(false);
  });

  it("a replica with an emptied --data, or joining later, gets the same files back; one with another secret file is refused", async () => {
    const c = await startServer(config("c"));
    servers.push(c);
    expect(c.edgeFingerprint()).toBe(servers[0]?.edgeFingerprint());
    await c.close();
    servers.pop();
    rmSync(dir.file("c/data"), { recursive: true });
    const again = await startServer(config("c"));
    servers.push(again);
    expect(again.edgeFingerprint()).toBe(servers[0]?.edgeFingerprint());

    writeFileSync(dir.file("other-secret"), "z".repeat(44), { mode: 0o600 });
    chmodSync(dir.file("other-secret"), 0o600);
    const wrong = config("d");
    const failure = await startServer({ ...wrong, cluster: { ...wrong.cluster!, secretFile: dir.file("other-secret") } }).then(
      (server) => {
        servers.push(server);
        return undefined;
      },
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toContain("this replica's --secret-file differs from the one that encrypted the cluster's files");
  });
});
