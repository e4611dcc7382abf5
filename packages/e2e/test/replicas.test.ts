import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { createHash } from "node:crypto";
import { startPierAgent, startPostgres, startReplicas, tempDir, until, type PierApi, type PierProcess, type PostgresServer, type ReplicaSet, type TempDir } from "../src/index.ts";

/**
 * Scale-out (issue 18): two `pier server` replicas on one real PostgreSQL behind a real HAProxy
 * in TCP mode, and real agents (zero-touch, built-in CA, the local Docker engine) that reach the
 * replicas only through the balancer. The file has its own PostgreSQL, since one test restarts it.
 * The tests run in order and share the fleet: agents `rep-a` and `rep-b`.
 */
const password = "correct horse battery staple";
/** Seconds; the kill -9 test allows two of them for the agents to come back. */
const checkInInterval = 2;
const database = "replicas";
let pg: PostgresServer;
let dir: TempDir;
let replicas: ReplicaSet;
let api: PierApi;
const agents = new Map<string, { process: PierProcess; id: number }>();

interface Endpoint {
  Id: number;
  EdgeID: string;
  UserTrusted: boolean;
  Heartbeat: boolean;
  LastCheckInDate: number;
  Pier: { Connected: boolean };
}

/** The replica (index) holding the device's session, as `edge_sessions` says; undefined when none. */
function owner(environmentId: number): number | undefined {
  const rows = pg.query(database, `SELECT r.name FROM edge_sessions s JOIN replicas r ON r.id = s.replica_id WHERE s.environment_id = ${environmentId}`);
  const name = rows[0]?.[0];
  return replicas.slots.find((slot) => slot.name === name)?.index;
}

/** `last_check_in_at` in the database (ms; 0 when never stored). */
const storedCheckIn = (environmentId: number) => Number(pg.query(database, `SELECT last_check_in_at FROM environments WHERE id = ${environmentId}`)[0]?.[0] ?? 0);

/** The other replica of the two. */
const other = (index: number) => 1 - index;

function agent(edgeId: string): { process: PierProcess; id: number } {
  const found = agents.get(edgeId);
  if (found === undefined) throw new Error(`no agent ${edgeId}`);
  return found;
}

/** How many sessions the agent has opened so far (one "connected to … as environment" line each). */
const sessionsOpened = (process: PierProcess) => process.output().match(/connected to \S+ as environment \d+/g)?.length ?? 0;

async function endpoint(client: PierApi, id: number): Promise<Endpoint> {
  const res = await client.call<Endpoint>("GET", `/api/endpoints/${id}`);
  if (res.status !== 200) throw new Error(`GET /api/endpoints/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** SHA-256 of the SPKI the replica's HTTPS listener presents. */
function presentedKey(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: replicas.ca() }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      if (certificate === undefined) reject(new Error("no certificate"));
      else resolve(createHash("sha256").update(certificate.publicKey.export({ type: "spki", format: "der" })).digest("hex"));
    });
    socket.once("error", reject);
  });
}

/** A call that may meet a replica while it dies or the database while it restarts: the error as a status 0. */
async function tryCall(client: PierApi, method: string, path: string): Promise<number> {
  try {
    return (await client.call(method, path)).status;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  dir = tempDir("replicas");
  replicas = await startReplicas({ dir: dir.path, databaseUrl: await pg.createDatabase(database), adminPassword: password });
  api = await replicas.login("admin", password);
  expect((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: checkInInterval })).status).toBe(200);
}, 120_000);

// A failure here is usually a replica's story: print what each replica (and agent) said last.
afterEach((context) => {
  if (context.task.result?.state !== "fail" || replicas === undefined) return;
  for (const slot of replicas.slots) {
    if (!replicas.running(slot.index)) {
      console.error(`--- ${slot.name}: killed by the test ---`);
      continue;
    }
    const server = replicas.server(slot.index);
    const exit = server.process.exitCode ?? server.process.signalCode ?? "running";
    console.error(`--- ${slot.name} (${exit}), last lines ---\n${server.output().split("\n").slice(-60).join("\n")}`);
  }
});

afterAll(async () => {
  await Promise.all([...agents.values()].map(({ process }) => process.stop()));
  await replicas?.stop();
  await pg?.stop();
  await dir?.[Symbol.asyncDispose]();
});

describe("two replicas on PostgreSQL behind HAProxy", () => {
  it("form one Pier: one administrator, one CA, one server key, one edge key, whichever replica answers", async () => {
    // Both started at once with --admin-password-file: exactly one user was created.
    expect(pg.query(database, "SELECT username FROM users")).toEqual([["admin"]]);
    expect(readFileSync(`${replicas.slots[0]?.dataDir}/ca/ca.crt`, "utf8")).toBe(readFileSync(`${replicas.slots[1]?.dataDir}/ca/ca.crt`, "utf8"));
    const keys = await Promise.all(replicas.slots.map((slot) => presentedKey(slot.httpsPort)));
    expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(replicas.server(1).edgeKey).toBe(replicas.server(0).edgeKey);
    // The session token from the balancer's login works on each replica directly.
    for (const index of [0, 1]) expect((await replicas.api(index).call("GET", "/api/settings")).status).toBe(200);
  });

  it("agents through HAProxy wait in the waiting room; associated on one replica, their Docker API answers through either", async () => {
    for (const edgeId of ["rep-a", "rep-b"]) {
      const process = startPierAgent({ edgeId, edgeKey: replicas.edgeKey, dataDir: dir.file(`agent-${edgeId}`) });
      agents.set(edgeId, { process, id: 0 });
      const [, id] = await process.waitFor(/as environment (\d+)/, 30_000);
      agents.set(edgeId, { process, id: Number(id) });
    }
    // Each agent dialled the balancer, never a replica directly.
    expect(agent("rep-a").process.output()).toContain(`connected to https://localhost:${replicas.balancer.tunnelPort}`);
    // rep-a is associated on replica 0, rep-b on replica 1, wherever their sessions landed.
    for (const [edgeId, via] of [["rep-a", 0], ["rep-b", 1]] as const) {
      const { process, id } = agent(edgeId);
      const waiting = await until(`${edgeId} in the waiting room, seen from replica ${other(via)}`, async () => {
        const e = await endpoint(replicas.api(other(via)), id);
        return e.UserTrusted === false && e.Heartbeat ? e : undefined;
      });
      expect(waiting.EdgeID).toBe(edgeId);
      expect((await replicas.api(via).call("POST", `/api/endpoints/${id}/edge/trust`)).status).toBe(204);
      await process.waitFor(/associated by the administrator|issued this device's certificate/, 10_000);
      await until(`${edgeId} connected with its certificate`, () => Promise.resolve(existsSync(dir.file(`agent-${edgeId}/identity/current.crt`)) && owner(id) !== undefined), 30_000);
    }
    // Through both replicas: for each device one of them holds its session, the other does not.
    for (const edgeId of ["rep-a", "rep-b"]) {
      const { id } = agent(edgeId);
      const holder = owner(id);
      expect(holder === 0 || holder === 1).toBe(true);
      for (const index of [0, 1]) {
        const version = await replicas.api(index).call<{ ApiVersion: string }>("GET", `/api/endpoints/${id}/docker/version`);
        expect({ edgeId, index, holder, status: version.status }).toEqual({ edgeId, index, holder, status: 200 });
        expect(version.body.ApiVersion).toMatch(/^\d+\.\d+$/);
      }
      const containers = await replicas.api(other(holder ?? 0)).call<unknown[]>("GET", `/api/endpoints/${id}/docker/containers/json?all=1`);
      expect(containers.status).toBe(200);
      expect(Array.isArray(containers.body)).toBe(true);
    }
  });

  it("a settings change on one replica reaches the sessions the other holds within a second", async () => {
    const { process, id } = agent("rep-a");
    const holder = owner(id);
    expect(holder).toBeDefined();
    expect(process.output()).not.toMatch(/check-in interval is now 3 s/);
    const started = Date.now();
    expect((await replicas.api(other(holder ?? 0)).call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 3 })).status).toBe(200);
    await process.waitFor(/check-in interval is now 3 s/, 5_000);
    console.info(`settings on replica ${other(holder ?? 0)} reached the agent on replica ${holder} in ${Date.now() - started} ms`);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await replicas.api(other(holder ?? 0)).call("PUT", "/api/settings", { EdgeAgentCheckinInterval: checkInInterval })).status).toBe(200);
    await process.waitFor(new RegExp(`check-in interval is now ${checkInInterval} s`), 5_000);
  });

  it("a logout on one replica is refused on the other within a second", async () => {
    const login = await replicas.api(0).call<{ jwt: string }>("POST", "/api/auth", { Username: "admin", Password: password });
    expect(login.status).toBe(200);
    const bearer = { authorization: `Bearer ${login.body.jwt}` };
    expect((await replicas.api(1).call("GET", "/api/settings", undefined, bearer)).status).toBe(200);
    const started = Date.now();
    expect((await replicas.api(0).call("POST", "/api/auth/logout", undefined, bearer)).status).toBe(204);
    await until("the logged-out token refused on replica 1", async () => (await replicas.api(1).call("GET", "/api/settings", undefined, bearer)).status === 401, 5_000);
    console.info(`logout on replica 0 refused on replica 1 after ${Date.now() - started} ms`);
    expect(Date.now() - started).toBeLessThan(1000);
    // The other session (the balancer's login) still works on both.
    for (const index of [0, 1]) expect((await replicas.api(index).call("GET", "/api/settings")).status).toBe(200);
  });

  it("kill -9 of the replica holding agents: they are back through the balancer within two check-in intervals, nothing lost", async () => {
    const ids = ["rep-a", "rep-b"].map((edgeId) => agent(edgeId).id);
    const victim = owner(ids[0] ?? 0);
    expect(victim).toBeDefined();
    const survivor = other(victim ?? 0);
    const held = ["rep-a", "rep-b"].filter((edgeId) => owner(agent(edgeId).id) === victim);
    expect(held).toContain("rep-a");
    const before = new Map(held.map((edgeId) => [edgeId, sessionsOpened(agent(edgeId).process)]));
    const auditIds = () => pg.query(database, "SELECT id FROM audit_events ORDER BY id").map(([auditId]) => Number(auditId));
    const auditBefore = auditIds();
    expect(auditBefore.length).toBeGreaterThan(0);

    await replicas.kill(victim ?? 0, "SIGKILL");
    const killedAt = Date.now();
    for (const edgeId of held) {
      const { process, id } = agent(edgeId);
      await until(`${edgeId} back on replica ${survivor}`, () => Promise.resolve(sessionsOpened(process) > (before.get(edgeId) ?? 0) && owner(id) === survivor), 4 * checkInInterval * 1000);
    }
    const back = Date.now() - killedAt;
    console.info(`kill -9 of replica ${victim}: ${held.join(", ")} back on replica ${survivor} in ${back} ms`);
    expect(back).toBeLessThan(2 * checkInInterval * 1000);

    // Nothing acknowledged was lost: associations, audit, and the Docker API through the balancer.
    const survivorApi = replicas.api(survivor);
    for (const id of ids) expect(await endpoint(survivorApi, id)).toMatchObject({ UserTrusted: true });
    expect(auditIds()).toEqual(expect.arrayContaining(auditBefore));
    for (const id of ids) expect((await replicas.api().call("GET", `/api/endpoints/${id}/docker/version`)).status).toBe(200);

    // The killed replica comes back on its data and ports and serves the same Pier.
    await replicas.start(victim ?? 0);
    expect((await replicas.api(victim).call("GET", "/api/settings")).status).toBe(200);
  }, 90_000);

  it("PostgreSQL restarted while the replicas run: they recover by themselves, sessions and heartbeats continue", async () => {
    const { process, id } = agent("rep-a");
    const sessionsBefore = sessionsOpened(process);
    const storedBefore = storedCheckIn(id);
    expect(storedBefore).toBeGreaterThan(0);

    let back = false;
    const restarting = pg.restart(4000).finally(() => (back = true));
    try {
      // While PostgreSQL is down, what needs it answers 503 `unavailable` (not a hang, not a crash).
      const down = await until("a request refused while PostgreSQL is down", async () => {
        if (back) throw new Error("PostgreSQL was back before any request was answered 503 while it was down");
        const res = await replicas
          .api(0)
          .call<{ code?: string }>("GET", `/api/endpoints/${id}`)
          .catch(() => undefined);
        return res?.status === 503 ? res : undefined;
      }, 60_000);
      expect(down.body.code).toBe("unavailable");
    } finally {
      await restarting;
    }
    const restartedAt = Date.now();
    // Both replicas answer again without being restarted.
    for (const index of [0, 1]) {
      await until(`replica ${index} answers from the database again`, async () => (await tryCall(replicas.api(index), "GET", `/api/endpoints/${id}`)) === 200, 30_000);
    }
    // Both listen for cluster events again (they reconnect with backoff), so the next test's
    // announcements are heard at once.
    for (const index of [0, 1]) await replicas.server(index).waitFor(/cluster events: listening again on PostgreSQL/, 15_000);
    // Heartbeats continued and reach the database again (flushed every 2 s).
    console.info(`PostgreSQL restarted (4 s down): both replicas answered again ${Date.now() - restartedAt} ms after it was back`);
    await until("a check-in stored after the restart", () => Promise.resolve(storedCheckIn(id) > restartedAt), 20_000);
    expect(sessionsOpened(process)).toBe(sessionsBefore);
    for (const index of [0, 1]) expect((await endpoint(replicas.api(index), id)).Heartbeat).toBe(true);
    expect(replicas.running(0) && replicas.running(1)).toBe(true);
  }, 90_000);

  it("a removal on one replica ends the session the other holds in under a second", async () => {
    const { process, id } = agent("rep-b");
    const holder = owner(id);
    expect(holder).toBeDefined();
    expect(process.output()).not.toMatch(/removed by an administrator/);
    const started = Date.now();
    expect((await replicas.api(other(holder ?? 0)).call("DELETE", `/api/endpoints/${id}`)).status).toBe(204);
    await process.waitFor(/The server ended the session: This device was removed by an administrator/, 5_000);
    console.info(`removal on replica ${other(holder ?? 0)} ended the session on replica ${holder} in ${Date.now() - started} ms`);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
