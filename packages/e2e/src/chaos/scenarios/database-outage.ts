import { existsSync } from "node:fs";
import { startPierAgent, type PierProcess } from "../../pier-processes.ts";
import { startPostgres, type PostgresServer } from "../../postgres.ts";
import { startReplicas, type ReplicaSet } from "../../replicas.ts";
import { tempDir } from "../../temp-dir.ts";
import { acceptsOnLoopback } from "../../free-loopback-port.ts";
import { until } from "../../until.ts";
import type { ChaosOptions, ChaosRecorder, ChaosScenario } from "../scenario.ts";
import { timedRequest, type TimedAnswer } from "../timed-request.ts";

const password = "correct horse battery staple";
const database = "chaos_database_outage";
/** Check-in interval (s): short, so the outage spans many heartbeats. */
const checkInInterval = 2;
/** The longest any answer may take while PostgreSQL is down: refused promptly, never a hang. */
const slowestAllowedMs = 5_000;
/** Log lines about the database a replica may print over the whole outage ("once", per activity). */
const maxOutageLogLines = 8;

/** Sizes of the two versions. */
const sizes = {
  short: { replicas: 2, associated: 2, outageMs: 11_000 },
  full: { replicas: 3, associated: 6, outageMs: 30_000 },
} as const;

interface Device {
  readonly edgeId: string;
  agent: PierProcess;
  id: number;
}

/** One write of the writer that runs across the outage's start and end: what it was answered. */
interface FlowWrite {
  readonly name: string;
  readonly status: number;
}

/** How many sessions the agent opened so far (one "connected to … as environment" line each). */
const sessionsOpened = (agent: PierProcess) => agent.output().match(/connected to \S+ as environment \d+/g)?.length ?? 0;

const code = (answer: TimedAnswer) => (answer.body as { code?: unknown } | undefined)?.code;
const message = (answer: TimedAnswer) => {
  const text = (answer.body as { message?: unknown } | undefined)?.message;
  return typeof text === "string" ? text : "";
};
const describe = (answer: TimedAnswer) => `${answer.status} ${answer.error ?? JSON.stringify(answer.body)} (${answer.ms} ms)`;

/** Lines of `text` about the database: what an operator would call "the log says it". */
const databaseLines = (text: string) =>
  text
    .split("\n")
    .filter((line) => /database|postgres|check-in\(s\)|cluster events|replica registry|session directory/i.test(line))
    // What a replica says once when the database is back (it may notice before this process does).
    .filter((line) => !/answers again|listening again|refreshed again|recorded again/.test(line));

/**
 * PostgreSQL under two or three replicas stopped (fast shutdown: every connection cut) for
 * 11 s or 30 s and started again on the same data and port, with zero-touch agents connected
 * through HAProxy: sessions and heartbeats go on in memory, reads that need no database answer,
 * writes are refused at once with 503 `unavailable` and `Retry-After`, the log says it once;
 * afterwards the replicas catch up by themselves and nothing acknowledged is lost.
 */
export const databaseOutage: ChaosScenario = {
  name: "database-outage",
  summary: "PostgreSQL stopped under replicas: sessions and heartbeats kept in memory, writes refused clearly, all caught up by itself when it returns",
  async run(options: ChaosOptions, recorder: ChaosRecorder) {
    const size = options.short ? sizes.short : sizes.full;
    const dir = tempDir("chaos-database-outage");
    let pg: PostgresServer | undefined;
    let replicas: ReplicaSet | undefined;
    const devices: Device[] = [];
    // Set while the writer runs and PostgreSQL restarts: ended (and awaited) on the way out, also on failure.
    let writing = false;
    let pgRestart: Promise<void> | undefined;
    try {
      pg = await startPostgres();
      const postgres = pg;
      options.log(`PostgreSQL on port ${pg.port}; starting ${size.replicas} replicas`);
      replicas = await startReplicas({ dir: dir.path, databaseUrl: await pg.createDatabase(database), count: size.replicas, adminPassword: password });
      const set = replicas;
      const api = await set.login("admin", password);
      const settings = await api.call("PUT", "/api/settings", { EdgeAgentCheckinInterval: checkInInterval });
      if (settings.status !== 200) throw new Error(`PUT /api/settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);
      const ca = set.ca();
      const jwt = api.jwt;
      const call = (index: number, method: string, path: string, body?: unknown) => timedRequest({ url: set.slots[index]?.url ?? set.url, method, path, ca, jwt, body });
      const owner = (environmentId: number): number | undefined => {
        const name = postgres.query(database, `SELECT r.name FROM edge_sessions s JOIN replicas r ON r.id = s.replica_id WHERE s.environment_id = ${environmentId}`)[0]?.[0];
        return set.slots.find((slot) => slot.name === name)?.index;
      };
      const storedCheckIn = (environmentId: number) => Number(postgres.query(database, `SELECT last_check_in_at FROM environments WHERE id = ${environmentId}`)[0]?.[0] ?? 0);

      // Agents through the balancer: `associated` of them associated, one left in the waiting room
      // (it is associated after the outage, on a replica that does not hold its session). No
      // Docker engine: the agents report Docker unreachable and stay connected.
      const startAgent = (edgeId: string) => startPierAgent({ edgeId, edgeKey: set.edgeKey, dataDir: dir.file(`agent-${edgeId}`), env: { DOCKER_HOST: `unix://${dir.file("no-docker.sock")}` } });
      for (let index = 0; index <= size.associated; index++) {
        const edgeId = `outage-${index}`;
        devices.push({ edgeId, agent: startAgent(edgeId), id: 0 });
      }
      for (const device of devices) device.id = Number((await device.agent.waitFor(/as environment (\d+)/, 60_000))[1]);
      const associated = devices.slice(0, size.associated);
      const waiting = devices[size.associated];
      if (waiting === undefined) throw new Error("no waiting device");
      for (const [index, device] of associated.entries()) {
        const trust = await call(index % size.replicas, "POST", `/api/endpoints/${device.id}/edge/trust`);
        if (trust.status !== 204) throw new Error(`associating ${device.edgeId} answered ${describe(trust)}`);
      }
      for (const device of associated) {
        await until(`${device.edgeId} connected with its certificate`, () => Promise.resolve(existsSync(dir.file(`agent-${device.edgeId}/identity/current.crt`)) && owner(device.id) !== undefined), 60_000);
      }
      for (const device of devices) await until(`${device.edgeId} stored as checked in`, () => Promise.resolve(storedCheckIn(device.id) > 0), 30_000);
      // Writes acknowledged before the outage: they must all be there afterwards.
      const before: string[] = [];
      for (let index = 0; index < 5 * size.replicas; index++) {
        const name = `before-${index}`;
        const answer = await call(index % size.replicas, "POST", "/api/tags", { Name: name });
        if (answer.status === 200) before.push(name);
      }
      recorder.check("writes acknowledged before the outage", before.length === 5 * size.replicas, `${before.length} of ${5 * size.replicas} tags created`);
      const sessionsBefore = devices.map((device) => sessionsOpened(device.agent));
      const logMarks = set.slots.map((slot) => set.server(slot.index).output().length);
      options.log(`${devices.length} agents connected (${associated.length} associated, 1 waiting), ${before.length} writes acknowledged; stopping PostgreSQL for ${size.outageMs / 1000} s`);

      // A writer across the outage's start and end, one write at a time: every write answered 200
      // must be found afterwards, every one refused must not be.
      const flow: FlowWrite[] = [];
      writing = true;
      const writer = (async () => {
        for (let index = 0; writing; index++) {
          const name = `flow-${index}`;
          const answer = await call(index % size.replicas, "POST", "/api/tags", { Name: name });
          flow.push({ name, status: answer.status });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();

      // The outage: PostgreSQL's fast shutdown, `outageMs` down, then started on the same data and port.
      let back = false;
      pgRestart = postgres.restart(size.outageMs).finally(() => (back = true));
      await until("PostgreSQL to stop accepting connections", async () => !(await acceptsOnLoopback(postgres.port)), 30_000);
      const downAt = performance.now();
      const writes: TimedAnswer[] = [];
      const reads: TimedAnswer[] = [];
      const statusReads: TimedAnswer[] = [];
      // One device restarts during the outage: its hello needs the database.
      const restarted = associated[associated.length - 1];
      if (restarted === undefined) throw new Error("no associated device");
      let restartedWhileDown = false;
      const restarting = (async () => {
        // Soon after the start: on a loaded machine a new agent process takes seconds to dial.
        await new Promise((resolve) => setTimeout(resolve, 500));
        await restarted.agent.stop();
        restarted.agent = startAgent(restarted.edgeId);
        // It dialled while PostgreSQL was down: it was refused (the check below reads why).
        await until("the restarted device refused, or PostgreSQL back", () => Promise.resolve(back || /database cannot be reached/.test(restarted.agent.output())), size.outageMs + 60_000);
        restartedWhileDown = /database cannot be reached/.test(restarted.agent.output());
      })();
      let round = 0;
      while (!back) {
        const index = round % size.replicas;
        const [write, read, status] = await Promise.all([
          call(index, "POST", "/api/tags", { Name: `during-${round}` }),
          // The environment page and, every other round, a Prometheus scrape (both read the user first).
          call(index, "GET", round % 2 === 0 ? `/api/endpoints/${associated[0]?.id ?? 0}` : "/metrics"),
          call(index, "GET", "/api/system/status"),
        ]);
        // Answers that straddle PostgreSQL's return are not the outage's.
        if (back) break;
        writes.push(write);
        reads.push(read);
        statusReads.push(status);
        round++;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await pgRestart;
      const backAt = performance.now();
      const logsAtBack = set.slots.map((slot) => set.server(slot.index).output().length);
      await restarting;
      // Timed from the return: the restarted device dials again when its backoff says so.
      const rejoining = restarted.agent.waitFor(/connected to \S+ as environment \d+/, 120_000).then(
        () => performance.now(),
        () => undefined,
      );
      const backWall = Date.now();
      // (The device restarted during the outage is not connected until its backoff ends: below.)
      const stayed = devices.filter((device) => device !== restarted);
      // Watched from the return on: the check-ins of the outage's last seconds, which only memory
      // held, written by the flush the return sets off (one query for all the devices).
      const lastOfOutage = backWall - 3 * checkInInterval * 1000;
      const oldestStored = () => {
        try {
          return Number(postgres.query(database, `SELECT min(coalesce(last_check_in_at, 0)) FROM environments WHERE id IN (${stayed.map((device) => device.id).join(",")})`)[0]?.[0] ?? 0);
        } catch {
          return 0;
        }
      };
      const caughtUpAt = until("every connected device's check-in of the outage's last seconds stored", () => Promise.resolve(oldestStored() >= lastOfOutage && performance.now()), 30_000).catch(() => undefined);
      options.log(`PostgreSQL back after ${Math.round((backAt - downAt) / 1000)} s down; ${writes.length} writes tried meanwhile`);

      const refused = writes.filter((answer) => answer.status === 503 && code(answer) === "unavailable");
      recorder.figure("writes refused", refused.length);
      recorder.check(
        "every write during the outage refused 503 unavailable, with Retry-After, saying the database cannot be reached",
        writes.length > 0 && writes.every((answer) => answer.status === 503 && code(answer) === "unavailable" && Number(answer.headers["retry-after"]) >= 1 && /database/i.test(message(answer)) && !/ECONN|terminated|timeout exceeded|57P0/.test(message(answer))),
        writes.map(describe).join("; "),
      );
      const slowest = Math.max(0, ...[...writes, ...reads, ...statusReads].map((answer) => answer.ms));
      recorder.figure("slowest answer during the outage", slowest, "ms");
      recorder.check(`every answer during the outage within ${slowestAllowedMs / 1000} s`, slowest <= slowestAllowedMs && [...writes, ...reads, ...statusReads].every((answer) => answer.status !== 0), `slowest ${slowest} ms; ${[...writes, ...reads, ...statusReads].filter((answer) => answer.status === 0).map(describe).join("; ")}`);
      recorder.check(
        "reads that need the database refused the same way (503 unavailable), never a 500",
        reads.every((answer) => answer.status === 503 && code(answer) === "unavailable"),
        reads.map(describe).join("; "),
      );
      recorder.check("the server status (health check, first screen) answered from memory", statusReads.every((answer) => answer.status === 200), statusReads.map(describe).join("; "));
      for (const slot of set.slots) {
        const lines = databaseLines(set.server(slot.index).output().slice(logMarks[slot.index], logsAtBack[slot.index]));
        recorder.check(`${slot.name} logged the outage a few times, not a flood`, lines.length <= maxOutageLogLines, `${lines.length} lines:\n${lines.join("\n")}`);
        if (slot.index === 0) options.log(`${slot.name} said during the outage:\n    ${lines.join("\n    ")}`);
      }

      // Recovery, by itself: the first accepted write, then every replica answering reads and writes.
      let afterCount = 0;
      const accepted = async (index: number) => (await call(index, "POST", "/api/tags", { Name: `after-${afterCount++}` })).status === 200;
      const firstWrite = await until("a write accepted after PostgreSQL's return", async () => {
        for (const slot of set.slots) if (await accepted(slot.index)) return performance.now();
        return undefined;
      }, 60_000);
      recorder.figure("first write after the return", Math.round(firstWrite - backAt), "ms");
      for (const slot of set.slots) {
        await until(`${slot.name} healthy again`, async () => (await accepted(slot.index)) && (await call(slot.index, "GET", `/api/endpoints/${associated[0]?.id ?? 0}`)).status === 200, 60_000);
      }
      recorder.figure("every replica healthy", Math.round(performance.now() - backAt), "ms");
      // The devices whose sessions never dropped are green in the very first answers after the
      // return: their check-ins went on in memory, whatever the database holds yet.
      const redAfter: string[] = [];
      for (const slot of set.slots) {
        for (const device of devices.filter((candidate) => candidate !== restarted)) {
          const answer = await call(slot.index, "GET", `/api/endpoints/${device.id}`);
          const body = answer.body as { Heartbeat?: boolean; LastCheckInDate?: number } | undefined;
          if (answer.status !== 200 || body?.Heartbeat !== true) redAfter.push(`${slot.name} ${device.edgeId}: ${answer.status} Heartbeat ${String(body?.Heartbeat)}, LastCheckInDate ${Math.round(Date.now() / 1000 - (body?.LastCheckInDate ?? 0))} s ago (${Math.round(performance.now() - backAt)} ms after the return)`);
        }
      }
      recorder.check("devices green in the first answers after the return", redAfter.length === 0, redAfter.join("; "));
      for (const slot of set.slots) await set.server(slot.index).waitFor(/cluster events: listening again on PostgreSQL/, 30_000);

      // Heartbeats kept in memory reach the database: every device's stored check-in is after the return.
      const caughtUp = await caughtUpAt;
      recorder.check(
        "check-ins kept in memory during the outage written after the return",
        caughtUp !== undefined,
        stayed.map((device) => `${device.edgeId} stored ${storedCheckIn(device.id) - backWall} ms from the return`).join("; "),
      );
      if (caughtUp !== undefined) recorder.figure("outage check-ins written", Math.round(caughtUp - backAt), "ms");
      const flushed = await until(
        "every connected device's check-in stored after the return",
        () => Promise.resolve(stayed.every((device) => storedCheckIn(device.id) >= backWall) && performance.now()),
        30_000,
      ).catch(() => undefined);
      recorder.check("heartbeats flushed after the return (last check-in times written)", flushed !== undefined, stayed.map((device) => `${device.edgeId} stored ${storedCheckIn(device.id) - backWall} ms after the return`).join("; "));
      if (flushed !== undefined) recorder.figure("check-ins after the return stored", Math.round(flushed - backAt), "ms");

      // The device restarted during the outage was refused, told why, and came back by itself.
      recorder.check("the device restarted during the outage dialled while PostgreSQL was down", restartedWhileDown, "");
      const refusal = /^.*database cannot be reached.*$/im.exec(restarted.agent.output())?.[0];
      recorder.check("the device restarted during the outage was told the database cannot be reached", refusal !== undefined, restarted.agent.output().split("\n").slice(-20).join("\n"));
      options.log(`the device restarted during the outage said: ${refusal ?? "(nothing)"}`);
      const rejoined = await rejoining;
      recorder.check("the device restarted during the outage came back by itself", rejoined !== undefined, restarted.agent.output().split("\n").slice(-20).join("\n"));
      if (rejoined !== undefined) recorder.figure("restarted device back", Math.max(0, Math.round(rejoined - backAt)), "ms");

      const dropped = devices.filter((device, index) => device !== restarted && sessionsOpened(device.agent) !== sessionsBefore[index]);
      recorder.check("no agent session dropped", dropped.length === 0, dropped.map((device) => `${device.edgeId}:\n${device.agent.output().split("\n").slice(-15).join("\n")}`).join("\n"));
      // Every device, the restarted one included once back (its first check-in is stored within a flush).
      let green: string[] = [];
      const allGreen = await until(
        "every device green and connected on every replica",
        async () => {
          green = [];
          for (const slot of set.slots) {
            for (const device of devices) {
              const answer = await call(slot.index, "GET", `/api/endpoints/${device.id}`);
              const body = answer.body as { Heartbeat?: boolean; Pier?: { Connected?: boolean } } | undefined;
              if (answer.status !== 200 || body?.Heartbeat !== true || body.Pier?.Connected !== true) green.push(`${slot.name} ${device.edgeId}: ${describe(answer)}`);
            }
          }
          return green.length === 0;
        },
        15_000,
      ).catch(() => false);
      recorder.check("every device green and connected on every replica after the return", allGreen, green.join("; "));

      // Cross-replica features: the waiting device associated on a replica that does not hold its session.
      const holder = owner(waiting.id);
      const via = holder === undefined ? 0 : (holder + 1) % size.replicas;
      const trust = await call(via, "POST", `/api/endpoints/${waiting.id}/edge/trust`);
      let crossOk = trust.status === 204;
      let crossDetail = `trust on replica-${via} (session on replica-${holder ?? "?"}): ${describe(trust)}`;
      if (crossOk) {
        try {
          await waiting.agent.waitFor(/associated by the administrator|issued this device's certificate/, 30_000);
          for (const slot of set.slots) {
            await until(`${waiting.edgeId} associated, seen from ${slot.name}`, async () => ((await call(slot.index, "GET", `/api/endpoints/${waiting.id}`)).body as { UserTrusted?: boolean } | undefined)?.UserTrusted === true, 15_000);
          }
        } catch (error) {
          crossOk = false;
          crossDetail += `: ${(error as Error).message}`;
        }
      }
      recorder.check("an association on one replica reaches the device whose session another holds", crossOk, crossDetail);

      // Nothing acknowledged before the outage lost; nothing refused during it half-written.
      writing = false;
      await writer;
      const tags = await api.call<{ Name: string }[]>("GET", "/api/tags");
      const names = new Set(tags.status === 200 ? tags.body.map((tag) => tag.Name) : []);
      const found = before.filter((name) => names.has(name));
      const flowAcked = flow.filter((write) => write.status === 200);
      const flowRefused = flow.filter((write) => write.status !== 200);
      recorder.figure("acknowledged", before.length + associated.length + flowAcked.length);
      recorder.figure(
        "found afterwards",
        found.length + associated.filter((device) => postgres.query(database, `SELECT user_trusted FROM environments WHERE id = ${device.id}`)[0]?.[0] === "1").length + flowAcked.filter((write) => names.has(write.name)).length,
      );
      recorder.check("nothing acknowledged before the outage lost", found.length === before.length, `missing: ${before.filter((name) => !names.has(name)).join(", ") || "none"}`);
      recorder.check("every write acknowledged across the outage's start and end found", flowAcked.every((write) => names.has(write.name)), `missing: ${flowAcked.filter((write) => !names.has(write.name)).map((write) => write.name).join(", ") || "none"}`);
      recorder.check("no write refused across the outage's start and end was carried out", flowRefused.every((write) => !names.has(write.name)), `refused yet written: ${flowRefused.filter((write) => names.has(write.name)).map((write) => `${write.name} (${write.status})`).join(", ") || "none"}`);
      recorder.check("the writer saw the outage (writes refused) and its end (writes accepted after)", flowRefused.length > 0 && flow.findLastIndex((write) => write.status === 200) > flow.findIndex((write) => write.status !== 200), `${flowAcked.length} acknowledged, ${flowRefused.length} refused`);
      const refusedNames = new Set(writes.flatMap((answer, index) => (answer.status === 503 ? [`during-${index}`] : [])));
      const halfWritten = [...names].filter((name) => refusedNames.has(name));
      recorder.check("nothing refused during the outage was written", halfWritten.length === 0, halfWritten.join(", "));
      recorder.check("the replicas were never restarted", set.slots.every((slot) => set.running(slot.index) && set.server(slot.index).process.exitCode === null), "");
    } finally {
      writing = false;
      await pgRestart?.catch(() => undefined);
      await Promise.all(devices.map((device) => device.agent.stop()));
      await replicas?.stop();
      await pg?.stop();
      await dir[Symbol.asyncDispose]();
    }
  },
};
