import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { edgePaths, fleetLimits, type FleetReport, type StackReport } from "@pier/protocol";
import { until } from "../docker/docker-cli.testkit.ts";
import { recordingLogger } from "../docker/recording-logger.testkit.ts";
import type { FleetAnswer, FleetConnection } from "./fleet-connection.ts";
import { Outbox, maxOutboxEvents } from "./outbox.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pier-outbox-"));
  dirs.push(dir);
  return dir;
}

/** A stand-in for the server's report route: answers with `status()` and records each accepted body. */
function recordingConnection(status: () => number) {
  const accepted: { path: string; body: unknown }[] = [];
  let calls = 0;
  const connection: FleetConnection = {
    request: (_method, path, body): Promise<FleetAnswer> => {
      calls++;
      const answer = status();
      if (answer >= 200 && answer < 300) accepted.push({ path, body: JSON.parse(body ?? "null") });
      return Promise.resolve({ status: answer, body: "" });
    },
  };
  return { connection, accepted, calls: () => calls };
}

const transition = (stackId: number, version: number, type: number, time: number): StackReport => ({ stackId, version, type, time });

describe("Outbox", () => {
  it("keeps at most 1,000 events, coalescing a stack version's older transitions first and never its last", async () => {
    const dir = dataDir();
    const log = recordingLogger();
    const outbox = new Outbox({ dataDir: dir, log });
    // Stack 1 version 1 went through many transitions; stack 2 version 1 has one.
    outbox.stack(transition(2, 1, 7, 0));
    for (let i = 1; i <= maxOutboxEvents + 10; i++) outbox.stack(transition(1, 1, i % 2 === 0 ? 7 : 8, i));
    // Written once at the end of the turn, not once per event.
    await new Promise((resolve) => setImmediate(resolve));
    const kept = (JSON.parse(readFileSync(join(dir, "fleet", "outbox.json"), "utf8")) as { stacks: StackReport[] }).stacks;
    expect(kept).toHaveLength(maxOutboxEvents);
    expect(kept[0]).toEqual(transition(2, 1, 7, 0));
    expect(kept.at(-1)).toEqual(transition(1, 1, 7, maxOutboxEvents + 10));
    expect(kept[1]?.time).toBe(12);
    expect(statSync(join(dir, "fleet", "outbox.json")).mode & 0o777).toBe(0o600);
    expect(log.at("warn").some((line) => line.includes("more than 1000 events"))).toBe(true);
  });

  it("sends at most 200 events per report, removes them only after a 2xx, and retries a failure", async () => {
    const dir = dataDir();
    let status = 503;
    const server = recordingConnection(() => status);
    const outbox = new Outbox({ dataDir: dir, log: recordingLogger(), retryDelay: () => 50 });
    for (let i = 0; i < fleetLimits.reportEvents + 50; i++) outbox.stack(transition(1, 1 + i, 7, i));
    outbox.connected(server.connection);
    await until("a retry", () => (server.calls() >= 2 ? true : undefined));
    expect(server.accepted).toEqual([]);
    expect(outbox.size).toBe(fleetLimits.reportEvents + 50);

    status = 204;
    await until("everything sent", () => (outbox.size === 0 ? true : undefined));
    const reports = server.accepted.map((sent) => sent.body as FleetReport);
    expect(server.accepted.every((sent) => sent.path === edgePaths.report)).toBe(true);
    expect(reports.map((report) => report.stacks.length)).toEqual([fleetLimits.reportEvents, 50]);
    expect((JSON.parse(readFileSync(join(dir, "fleet", "outbox.json"), "utf8")) as { stacks: unknown[] }).stacks).toEqual([]);
    await outbox.close();
  });

  it("survives a restart: what was queued is read back from the file", async () => {
    const dir = dataDir();
    const first = new Outbox({ dataDir: dir, log: recordingLogger() });
    first.jobLogs({ jobId: 3, content: "done\n" });
    await new Promise((resolve) => setImmediate(resolve));
    const again = new Outbox({ dataDir: dir, log: recordingLogger() });
    expect(again.size).toBe(1);
  });

  it("keeps an agent update's result in the file at once, sends it in a report, and removes it after a 2xx", async () => {
    const dir = dataDir();
    const first = new Outbox({ dataDir: dir, log: recordingLogger() });
    first.agentUpdate({ id: 2, status: "rolled_back", agentVersion: "0.1.0", error: "did not check in" });
    // No turn of the event loop: a process stopped right now keeps it.
    const again = new Outbox({ dataDir: dir, log: recordingLogger() });
    expect(again.size).toBe(1);
    const server = recordingConnection(() => 204);
    again.connected(server.connection);
    await until("the result sent", () => (again.size === 0 ? true : undefined));
    expect(server.accepted).toEqual([{ path: edgePaths.report, body: { stacks: [], jobs: [], agentUpdate: { id: 2, status: "rolled_back", agentVersion: "0.1.0", error: "did not check in" } } }]);
    expect(JSON.parse(readFileSync(join(dir, "fleet", "outbox.json"), "utf8"))).not.toHaveProperty("agentUpdate");
    await again.close();
  });
});
