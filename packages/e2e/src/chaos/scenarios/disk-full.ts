import { X509Certificate, createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { keysMatch, loadPrivateKey } from "@pier/pki";
import type { EndpointView, PierApi } from "../../pier-api.ts";
import { startPierAgent, type PierProcess, type PierServer } from "../../pier-processes.ts";
import { tempDir, type TempDir } from "../../temp-dir.ts";
import { until } from "../../until.ts";
import { enrollZeroTouchAgent, startBuiltInCaServer } from "../../zero-touch.ts";
import type { ChaosOptions, ChaosRecorder, ChaosScenario } from "../scenario.ts";
import { mountSmallDisk, type SmallDisk } from "../small-disk.ts";
import { caIntegrity, sqliteIntegrity } from "../store-integrity.ts";

const password = "correct horse battery staple";

/** Sizes of the two versions: the disks (MiB), agents beside the one whose own disk fills, how long each disk stays full. */
const sizes = {
  short: { serverDiskMiB: 16, agentDiskMiB: 2, otherAgents: 1, serverFullMs: 8_000, agentFullMs: 3_000 },
  // Past the heartbeat rule (2 × 1 s + 20 s): a heartbeat lost with the flush would turn red.
  full: { serverDiskMiB: 64, agentDiskMiB: 8, otherAgents: 4, serverFullMs: 30_000, agentFullMs: 15_000 },
} as const;

type Endpoint = EndpointView<{ Connected: boolean; ClientCertificate: { SerialNumber: string } | null }>;

interface Answer {
  readonly status: number;
  readonly body: { code?: string; message?: string; fix?: string; details?: { disk?: string } } | undefined;
}

/** `TempDir`'s shape over a directory that is not removed with it (a small disk's). */
const dirOn = (path: string): TempDir => ({ path, file: (name) => join(path, name), [Symbol.asyncDispose]: () => Promise.resolve() });

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Lines of `text` after its first `from` characters. */
const linesSince = (text: string, from: number) => text.slice(from).split("\n").filter((line) => line !== "");

/**
 * The writes an operator makes while the disk fills, and what the server answered: a write
 * answered 2xx is acknowledged (it must be found afterwards), one answered 507 `disk_full` naming
 * the data directory is refused as promised, anything else is a failure of the check.
 */
class TagWrites {
  readonly acknowledged: string[] = [];
  refused = 0;
  readonly unclear: string[] = [];
  readonly #api: () => PierApi;
  readonly #dataDir: string;
  #next = 0;

  constructor(api: () => PierApi, dataDir: string) {
    this.#api = api;
    this.#dataDir = dataDir;
  }

  /** One write: a new tag. */
  async write(): Promise<Answer> {
    const name = `disk-full-${(this.#next += 1)}`;
    const answer = (await this.#api().call("POST", "/api/tags", { Name: name })) as Answer;
    if (answer.status === 200) this.acknowledged.push(name);
    else if (answer.status === 507 && answer.body?.code === "disk_full" && answer.body.message?.includes(this.#dataDir) === true && answer.body.fix !== undefined) this.refused += 1;
    else if (this.unclear.length < 10) this.unclear.push(`${answer.status} ${JSON.stringify(answer.body)}`);
    return answer;
  }

  /** Acknowledged tags found now. */
  async found(): Promise<number> {
    const tags = await this.#api().call<{ Name: string }[]>("GET", "/api/tags");
    const names = new Set(tags.body.map((tag) => tag.Name));
    return this.acknowledged.filter((name) => names.has(name)).length;
  }
}

/** Everything the run started, stopped and removed at the end whatever happened. */
class Rig {
  disks: SmallDisk[] = [];
  temp: TempDir | undefined;
  server: PierServer | undefined;
  agents = new Map<string, PierProcess>();

  async dispose(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.stop()));
    await this.server?.stop();
    for (const disk of this.disks) disk.remove();
    await this.temp?.[Symbol.asyncDispose]();
  }
}

async function endpoints(api: PierApi): Promise<Endpoint[]> {
  const answer = await api.call<Endpoint[]>("GET", "/api/endpoints");
  if (answer.status !== 200) throw new Error(`GET /api/endpoints answered ${answer.status}`);
  return answer.body;
}

/** The server side: its data directory fills up, and is freed. */
async function serverDiskFull(options: ChaosOptions, recorder: ChaosRecorder, rig: Rig, size: (typeof sizes)["short" | "full"]): Promise<void> {
  const serverDisk = mountSmallDisk("disk-full-server", size.serverDiskMiB * 1024 * 1024);
  rig.disks.push(serverDisk);
  const agentDisk = mountSmallDisk("disk-full-agent", size.agentDiskMiB * 1024 * 1024);
  rig.disks.push(agentDisk);
  const temp = (rig.temp = tempDir("chaos-disk-full"));
  const serverDir = dirOn(serverDisk.path);
  const dataDir = serverDir.file("data");
  // Certificates from the built-in CA (issued at association, renewed on request): its state lives on the small disk too.
  let { server, api } = await startBuiltInCaServer(serverDir, password);
  rig.server = server;
  const ports = { httpsPort: server.httpsPort, tunnelPort: server.tunnelPort };
  if ((await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: 1 })).status !== 200) throw new Error("could not set the check-in interval");
  options.log(`server on a ${size.serverDiskMiB} MiB tmpfs (${dataDir}); enrolling ${size.otherAgents + 1} agents`);

  // The agent whose own --data fills later, then the others; one more waits in the waiting room.
  const diskAgent = await enrollZeroTouchAgent({ server, api, dir: dirOn(agentDisk.path) }, "disk-agent");
  rig.agents.set("disk-agent", diskAgent.agent);
  for (let i = 1; i <= size.otherAgents; i++) {
    const enrolled = await enrollZeroTouchAgent({ server, api, dir: temp }, `agent-${i}`);
    rig.agents.set(`agent-${i}`, enrolled.agent);
  }
  rig.agents.set("late", startPierAgent({ edgeId: "late", edgeKey: server.edgeKey, dataDir: temp.file("agent-late") }));
  const late = await until("the late device in the waiting room", async () => (await endpoints(api)).find((e) => e.EdgeID === "late" && !e.UserTrusted), 30_000);

  const writes = new TagWrites(() => api, dataDir);
  if ((await writes.write()).status !== 200) throw new Error("a write before the fault was refused");

  // The fault: a ballast file to the disk's last byte.
  const logFrom = server.output().length;
  const ballast = serverDisk.fill();
  const fullAt = Date.now();
  options.log(`server disk filled (${Math.round(ballast / 1024 / 1024)} MiB of ballast); writing until refused`);
  // SQLite reuses the WAL's pages already on disk: the first writes may still fit.
  for (let i = 0; i < 1000 && writes.refused === 0 && writes.unclear.length === 0; i++) await writes.write();
  recorder.figure("writes before the first refusal", writes.acknowledged.length - 1);
  recorder.check("writes refused with 507 disk_full naming the data directory, nothing else", writes.refused > 0 && writes.unclear.length === 0, `refused ${writes.refused}; other answers: ${writes.unclear.join(" | ") || "none"}`);
  const association = (await api.call("POST", `/api/endpoints/${late.Id}/edge/trust`)) as Answer;
  recorder.check("an association (a certificate to issue) refused the same way, or acknowledged", association.status === 204 || (association.status === 507 && association.body?.code === "disk_full"), `${association.status} ${JSON.stringify(association.body)}`);

  // A known device that reconnects needs no write: it comes back while the disk is full.
  await rig.agents.get("agent-1")?.stop();
  const reconnectFrom = Date.now();
  rig.agents.set("agent-1", startPierAgent({ edgeId: "agent-1", edgeKey: server.edgeKey, dataDir: temp.file("agent-agent-1") }));
  const reconnected = await until("agent-1 back while the disk is full", async () => ((await endpoints(api)).find((e) => e.EdgeID === "agent-1" && e.Pier.Connected && e.LastCheckInDate * 1000 >= reconnectFrom - 1000) ? true : undefined), 30_000).catch(() => false);
  recorder.check("a known device reconnects while the disk is full", reconnected, rig.agents.get("agent-1")?.output().slice(-600));

  // While full: writes go on being refused; what needs no write is served.
  const heldUntil = fullAt + size.serverFullMs;
  while (Date.now() < heldUntil) {
    await writes.write();
    await sleep(250);
  }
  const list = await endpoints(api);
  // The late device may have been associated meanwhile: a write can still fit in the WAL's pages.
  const associated = list.filter((e) => e.UserTrusted && e.EdgeID !== "late");
  const lagging = associated.filter((e) => !e.Heartbeat || !e.Pier.Connected || e.LastCheckInDate * 1000 < Date.now() - 5_000);
  recorder.check(
    "sessions and heartbeats up while the disk is full (check-ins advance in memory)",
    associated.length === size.otherAgents + 1 && lagging.length === 0,
    `${associated.length} associated; lagging: ${lagging.map((e) => `${e.EdgeID} heartbeat ${e.Heartbeat} connected ${e.Pier.Connected} last ${new Date(e.LastCheckInDate * 1000).toISOString()}`).join(", ") || "none"}`,
  );
  const reads = {
    settings: (await api.call("GET", "/api/settings")).status,
    tags: (await api.call("GET", "/api/tags")).status,
    ui: (await api.call("GET", "/")).status,
    login: (await api.call("POST", "/api/auth", { Username: "admin", Password: password })).status,
  };
  recorder.check("pages, lists and a login served while the disk is full", Object.values(reads).every((status) => status === 200), JSON.stringify(reads));
  const fullLines = linesSince(server.output(), logFrom);
  const saidFull = fullLines.filter((line) => line.includes(`The disk holding Pier's data directory ${dataDir} is full`));
  const errors = fullLines.filter((line) => / ERROR /.test(line));
  recorder.check("the log says the disk is full once, naming it (no flood)", saidFull.length === 1 && errors.length === 1, `${saidFull.length} line(s) naming the disk, ${errors.length} error line(s): ${[...new Set([...saidFull, ...errors])].slice(0, 6).join(" | ")}`);
  recorder.figure("writes refused", writes.refused);

  // Space returns: the server must write again by itself.
  serverDisk.free();
  const freedAt = Date.now();
  const recovered = await until(
    "a write accepted after the space returned",
    async () => {
      if ((await writes.write()).status === 200) return Date.now();
      await sleep(50);
      return undefined;
    },
    30_000,
  );
  recorder.figure("recover", recovered - freedAt, "ms");
  const trusted = await api.call("POST", `/api/endpoints/${late.Id}/edge/trust`);
  const lateCertificate = temp.file("agent-late/identity/current.crt");
  await until("the late device connected with its certificate", async () => (existsSync(lateCertificate) && (await endpoints(api)).find((e) => e.EdgeID === "late")?.Pier.Connected ? true : undefined), 30_000);
  const ca = new X509Certificate(readFileSync(join(dataDir, "ca", "ca.crt")));
  const issued = new X509Certificate(readFileSync(lateCertificate));
  recorder.check("the next certificate issued is valid (chains to the built-in CA, in its validity)", trusted.status === 204 && issued.checkIssued(ca) && issued.verify(ca.publicKey) && Date.parse(issued.validTo) > Date.now(), `trust ${trusted.status}; ${issued.subject} serial ${issued.serialNumber}`);
  await until("the log says there is room again", () => Promise.resolve(linesSince(server.output(), logFrom).some((line) => line.includes(`the disk holding ${dataDir} has room again`))), 10_000).catch(() => undefined);
  const roomLines = linesSince(server.output(), logFrom).filter((line) => line.includes("has room again"));
  recorder.check("the log says once that there is room again", roomLines.length === 1, `${roomLines.length} line(s)`);
  const found = await writes.found();
  recorder.figure("writes acknowledged", writes.acknowledged.length);
  recorder.figure("found after", found);
  recorder.check("every acknowledged write found after", found === writes.acknowledged.length, `${found} of ${writes.acknowledged.length}`);

  // The files are intact: the database and the CA, checked with the server stopped.
  await server.stop();
  const integrity = sqliteIntegrity(join(dataDir, "pier.db"));
  recorder.check("database intact (PRAGMA integrity_check)", integrity.ok, integrity.detail);
  const caState = caIntegrity(join(dataDir, "ca"));
  recorder.check("CA intact (key matches certificate, serials with their files)", caState.ok, caState.detail);

  // Start-up on a full disk: it starts and refuses writes, or says why it cannot start, naming the disk.
  serverDisk.fill();
  const startedFull = await startBuiltInCaServer(serverDir, password, [], ports).catch((error: unknown) => error as Error);
  if (startedFull instanceof Error) {
    recorder.check("a server started on a full disk says why, naming it", startedFull.message.includes(`the disk holding Pier's data directory ${dataDir} is full`), startedFull.message.slice(-600));
    serverDisk.free();
    ({ server, api } = await startBuiltInCaServer(serverDir, password, [], ports));
  } else {
    ({ server, api } = startedFull);
    rig.server = server;
    const refused = (await api.call("POST", "/api/tags", { Name: "on-a-full-disk" })) as Answer;
    const read = await api.call("GET", "/api/endpoints");
    recorder.check("a server started on a full disk serves reads and refuses writes naming the disk", read.status === 200 && refused.status === 507 && refused.body?.message?.includes(dataDir) === true, `read ${read.status}; write ${refused.status} ${JSON.stringify(refused.body)}`);
    serverDisk.free();
  }
  rig.server = server;
  await until("a write after the restart", async () => ((await api.call("POST", "/api/tags", { Name: "after-restart" })).status === 200 ? true : undefined), 15_000);
  await agentDiskFull(options, recorder, rig, size, { api, agentDisk, agentDir: agentDisk.file("agent-disk-agent") });
}

/** The agent side: its --data fills when it must write (a renewal), and is freed. */
async function agentDiskFull(options: ChaosOptions, recorder: ChaosRecorder, rig: Rig, size: (typeof sizes)["short" | "full"], context: { api: PierApi; agentDisk: SmallDisk; agentDir: string }): Promise<void> {
  const { api, agentDisk, agentDir } = context;
  const identity = join(agentDir, "identity");
  const device = async () => (await endpoints(api)).find((e) => e.EdgeID === "disk-agent");
  const before = await until("the disk agent back on the restarted server", async () => {
    const found = await device();
    return found?.Pier.Connected ? found : undefined;
  }, 30_000);
  const held = { key: sha256(join(identity, "current.key")), crt: sha256(join(identity, "current.crt")) };
  const serial = new X509Certificate(readFileSync(join(identity, "current.crt"))).serialNumber.toLowerCase();
  agentDisk.fill();
  const fullAt = Date.now();
  options.log("agent disk filled; restarting the agent on it, then asking it to renew");

  // A restart on a full disk: it needs no write to come back with its pair.
  const stopped = rig.agents.get("disk-agent");
  await stopped?.stop();
  const restartedAt = Date.now();
  // The restarted server's EDGE_KEY: the same ports and key as the one the agent enrolled with.
  const agent = startPierAgent({ edgeId: "disk-agent", edgeKey: rig.server?.edgeKey ?? "", dataDir: agentDir });
  rig.agents.set("disk-agent", agent);
  const back = await until("the restarted agent connected", async () => {
    const found = await device();
    return found?.Pier.Connected && found.LastCheckInDate * 1000 >= restartedAt - 1000 ? found : undefined;
  }, 30_000).catch(() => undefined);
  recorder.check("an agent restarted on a full disk connects with its pair", back !== undefined, agent.output().slice(-600));

  const askedAt = Date.now();
  const asked = await api.call("POST", `/api/endpoints/${before.Id}/certificate/renew`);
  if (asked.status !== 202) throw new Error(`asking the agent to renew answered ${asked.status}`);
  const said = await until("the agent's log naming its full disk", () => Promise.resolve(agent.output().split("\n").find((line) => line.includes(`the disk holding ${identity} is full`))), 15_000).catch(() => undefined);
  recorder.check("the agent logs a clear error naming its disk", said !== undefined, said ?? agent.output().slice(-800));
  // From the request to renew (pushed at once) to the agent's line naming its disk.
  recorder.figure("agent detect", Date.now() - askedAt, "ms");
  await sleep(Math.max(0, fullAt + size.agentFullMs - Date.now()));
  const during = await device();
  const leftovers = readdirSync(identity).filter((name) => name.includes(".tmp-") || name.startsWith("next."));
  recorder.check(
    "the agent's key and certificate intact, its session up, while its disk is full",
    sha256(join(identity, "current.key")) === held.key && sha256(join(identity, "current.crt")) === held.crt && during?.Pier.Connected === true && during.Heartbeat && leftovers.length === 0,
    `connected ${during?.Pier.Connected} heartbeat ${during?.Heartbeat}; files left: ${leftovers.join(", ") || "none"}`,
  );
  const failures = agent.output().split("\n").filter((line) => line.includes("is full")).length;
  recorder.figure("agent renewals refused", failures);

  agentDisk.free();
  const freedAt = Date.now();
  const renewed = await until(
    "the agent renewed by itself",
    async () => {
      const current = new X509Certificate(readFileSync(join(identity, "current.crt")));
      const found = await device();
      return current.serialNumber.toLowerCase() !== serial && found?.Pier.ClientCertificate?.SerialNumber.toLowerCase() === current.serialNumber.toLowerCase() && found.Pier.Connected ? current : undefined;
    },
    90_000,
  ).catch(() => undefined);
  recorder.figure("agent recover", Date.now() - freedAt, "ms");
  const key = loadPrivateKey(readFileSync(join(identity, "current.key")));
  recorder.check("the agent renews by itself once there is room, with a matching pair in use", renewed !== undefined && keysMatch(key, renewed.publicKey), renewed ? `serial ${renewed.serialNumber}` : agent.output().slice(-800));
  recorder.check("the agent's renewals never stopped for good", !agent.output().includes("stopped unexpectedly"), agent.output().split("\n").filter((line) => line.includes("unexpectedly")).join(" | "));
}

/**
 * `disk-full` (docs/chaos.md): the server's data directory, then an agent's `--data`, on a small
 * tmpfs filled with a ballast to the last byte and freed. The server keeps serving reads and its
 * agents' sessions, refuses writes with 507 `disk_full` naming the disk, logs it once, corrupts
 * neither its database nor its CA, and writes again by itself; an agent keeps its key and
 * certificate, says which disk is full, and renews by itself once there is room.
 */
export const diskFull: ChaosScenario = {
  name: "disk-full",
  summary: "server and agent data directories on a small tmpfs filled to the last byte: reads served, writes refused naming the disk, nothing corrupted, recovery by itself",
  async run(options, recorder) {
    const rig = new Rig();
    try {
      await serverDiskFull(options, recorder, rig, options.short ? sizes.short : sizes.full);
    } finally {
      await rig.dispose();
    }
  },
};
