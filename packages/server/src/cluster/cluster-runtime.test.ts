import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { spkiSha256 } from "@pier/pki";
import { encodeFrame } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../api/api-client.testkit.ts";
import { TestAgent } from "../edge/test-agent.testkit.ts";
import { crlCaId } from "../identity/crl-publisher.ts";
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

  it("a CA rotation started on A is followed by B (same new CA, trusted, its CRL served); finished on A, B drops the old CA and serves a certificate from the new one; a replica joining later takes the new CA", async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const logsB = logs[1] ?? [];
    const oldCa = readFileSync(dir.file("a/data/ca/ca.crt"), "utf8");
    const caId = (pem: string) => crlCaId(spkiSha256(new X509Certificate(pem).publicKey));
    const onA = apiClient(() => a.httpsAddress.port, oldCa);
    const onB = apiClient(() => b.httpsAddress.port, oldCa);
    // Preconditions: B is in standby, has no next CA and serves a certificate from the old CA.
    expect((await onB.call("GET", "/api/pki/rotation", { token })).json["Phase"]).toBe("standby");
    expect(existsSync(dir.file("b/data/ca-next"))).toBe(false);
    expect(await servedIssuer(b.httpsAddress.port)).toBe(new X509Certificate(oldCa).subject);

    const started = await onA.call("POST", "/api/pki/rotation", { token, body: { WindowSeconds: 60 } });
    expect(started.status).toBe(200);
    const nextCa = readFileSync(dir.file("a/data/ca-next/ca.crt"), "utf8");
    // B's own state (not only the shared row) follows: its status names the new CA, and it trusts it (its CRL is signed and served).
    await until("B follows the start", async () => (await onB.call("GET", "/api/pki/rotation", { token })).json["Phase"] === "rotating");
    expect(readFileSync(dir.file("b/data/ca-next/ca.crt"), "utf8")).toBe(nextCa);
    expect(statSync(dir.file("b/data/ca-next/ca.key")).mode & 0o777).toBe(0o600);
    expect(((await onB.call("GET", "/api/pki/rotation", { token })).json["ToCa"] as { Subject: string }).Subject).toBe(new X509Certificate(nextCa).subject.replace(/\n/g, ", "));
    await until("B serves the new CA's CRL", async () => (await onB.call("GET", `/api/pki/crl?ca=${caId(nextCa)}`, { token: null })).status === 200);
    expect(logsB.some((line) => line.includes("CA rotation started on another replica"))).toBe(true);

    const finished = await onA.call("POST", "/api/pki/rotation/finish", { token, body: {} });
    expect(finished.status).toBe(200);
    await until("B follows the finish", () => logsB.some((line) => line.includes("CA rotation finished on another replica")));
    expect(readFileSync(dir.file("b/data/ca/ca.crt"), "utf8")).toBe(nextCa);
    expect(existsSync(dir.file("b/data/ca-next"))).toBe(false);
    // B re-issued its server certificate from the new CA and no longer trusts the old one.
    await until("B serves a certificate from the new CA", async () => (await servedIssuer(b.httpsAddress.port)) === new X509Certificate(nextCa).subject);
    const onBNow = apiClient(() => b.httpsAddress.port, nextCa);
    expect((await onBNow.call("GET", "/api/pki/rotation", { token })).json["Phase"]).toBe("standby");
    await until("B no longer serves the old CA's CRL", async () => (await onBNow.call("GET", `/api/pki/crl?ca=${caId(oldCa)}`, { token: null })).status === 404);

    const later = await startServer(config("later"));
    try {
      expect(readFileSync(dir.file("later/data/ca/ca.crt"), "utf8")).toBe(nextCa);
      expect(await servedIssuer(later.httpsAddress.port)).toBe(new X509Certificate(nextCa).subject);
    } finally {
      await later.close();
    }
  });
});

/** The issuer of the certificate a server presents on `port` (not verified: only read). */
function servedIssuer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }, () => {
      const issuer = socket.getPeerX509Certificate()?.issuer ?? "";
      socket.destroy();
      resolve(issuer);
    });
    socket.on("error", reject);
  });
}

/** Waits until `probe` holds (every 50 ms, at most 15 s), else fails naming `what`. */
async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
