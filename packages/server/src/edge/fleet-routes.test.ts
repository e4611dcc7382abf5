import https from "node:https";
import { edgeHeaders, edgePaths, fleetLimits, type DesiredStack, type DesiredState, type FleetReport, type JobLogsUpload, type StackReport } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { endpointView } from "../api/views.ts";
import { LocalClusterEvents } from "../cluster/cluster-events.ts";
import { DesiredStateService } from "../fleet/desired-state.ts";
import { followDesiredStateChanges } from "../fleet/desired-state-push.ts";
import type { FleetReportSinks } from "../fleet/fleet-contracts.ts";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";
import { connectAgent, type AgentAnswer } from "./test-agent.testkit.ts";

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const fail = (): never => {
  throw new Error("the environment is gone");
};

function stack(id: number, version = 1): DesiredStack {
  return { id, name: `web-${id}`, version, deploymentType: 0, composeFile: "services:\n  web:\n    image: nginx\n", envVars: [], registries: [] };
}

/** A GET on an HTTP/2 connection. */
function getOn(connection: ReturnType<typeof connectAgent>, path: string): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const stream = connection.request({ ":method": "GET", ":path": path });
    let status = 0;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("close", () => (status === 0 ? reject(new Error("no response")) : resolve({ status, body: text })));
    stream.on("error", () => undefined);
    stream.end();
  });
}

/** One HTTP/1.1 request, as a polling agent makes it (no session connection). */
function pollingRequest(port: number, ca: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const request = https.request({ host: "127.0.0.1", port, ca, servername: "", method, path, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) }, agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

describe("edge fleet routes: desired state and reports", () => {
  let fixture: EdgeFixture;
  let desired: DesiredStateService;
  /** What the test source says each environment must run. */
  const stacks = new Map<number, DesiredStack[]>();
  // Test sinks standing in for the stack and job parts: they record what the intake hands them.
  const received: { stacks: [number, StackReport][]; logs: [number, JobLogsUpload][] } = { stacks: [], logs: [] };
  let failSink = false;
  const sinks: FleetReportSinks = {
    stackStatus: async (environmentId, report) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (failSink) throw new Error("the test sink's database is down");
      received.stacks.push([environmentId, report]);
    },
    jobRun: () => Promise.resolve(),
    jobLogs: (environmentId, upload) => {
      received.logs.push([environmentId, upload]);
      return Promise.resolve();
    },
    agentUpdate: () => Promise.resolve(),
  };

  beforeAll(async () => {
    const events = new LocalClusterEvents();
    fixture = await startEdgeFixture({
      fleet: ({ store, edge }) => {
        desired = new DesiredStateService({
          store,
          events,
          sources: () => ({ stacks: (id) => Promise.resolve(stacks.get(id) ?? []), jobs: () => Promise.resolve([]), agentUpdate: () => Promise.resolve(undefined) }),
          log: () => undefined,
          maxBytes: 64 * 1024,
        });
        followDesiredStateChanges({ events, edge, log: () => undefined });
        return { desiredState: desired, reports: sinks, environments: store.environments };
      },
    });
  });
  afterAll(() => fixture[Symbol.asyncDispose]());

  it("pushes status with the new version to the session, serves the document on its connection, and welcomes with the version", async () => {
    await using agent = await fixture.agent("fleet-1");
    const environmentId = agent.welcome.environmentId;
    expect(agent.welcome.desiredStateVersion).toBeUndefined();

    stacks.set(environmentId, [stack(2), stack(1)]);
    await desired.changed([environmentId]);
    const status = await agent.next("status");
    expect(status.desiredStateVersion).toMatch(/^[0-9a-f]{64}$/);
    expect((await fixture.store.environments.get(environmentId))?.desiredStateVersion).toBe(status.desiredStateVersion);

    const answer = await getOn(agent.connection, edgePaths.desiredState);
    expect(answer.status).toBe(200);
    const document = JSON.parse(answer.body) as DesiredState;
    expect(document).toEqual({ version: status.desiredStateVersion, stacks: [stack(1), stack(2)], jobs: [] });

    // Nothing changed: no write, no push.
    await desired.changed([environmentId]);
    await expect(agent.next("status", 300)).rejects.toThrow(/no status frame/);

    // A device that was offline learns it from its welcome.
    await agent.close();
    await using again = await fixture.agent("fleet-1", { deviceToken: agent.welcome.deviceToken ?? "" });
    expect(again.welcome.desiredStateVersion).toBe(status.desiredStateVersion);

    // A new stack version is a new version of the whole state.
    stacks.set(environmentId, [stack(1, 2), stack(2)]);
    await desired.changed("all");
    expect((await again.next("status")).desiredStateVersion).not.toBe(status.desiredStateVersion);
  });

  it("answers 409 to a device in the waiting room and 403 to a request naming no device it proves", async () => {
    await fixture.store.settings.update({ trustOnFirstConnect: false });
    try {
      await using waiting = await fixture.agent("fleet-waiting");
      expect(waiting.welcome.status).toBe("waiting");
      stacks.set(waiting.welcome.environmentId, [stack(1)]);
      await desired.changed([waiting.welcome.environmentId]);
      expect((await fixture.store.environments.get(waiting.welcome.environmentId))?.desiredStateVersion).toBeUndefined();
      const answer = await getOn(waiting.connection, edgePaths.desiredState);
      expect(answer.status).toBe(409);
      expect(json(answer.body)).toMatchObject({ code: "conflict", message: expect.stringContaining("waiting room") as unknown });
      expect((await waiting.post(edgePaths.report, JSON.stringify({ stacks: [] }))).status).toBe(409);
    } finally {
      await fixture.store.settings.update({ trustOnFirstConnect: true });
    }

    const stranger = connectAgent({ port: fixture.port, ca: fixture.ca });
    try {
      const answer = await getOn(stranger, edgePaths.desiredState);
      expect(answer.status).toBe(403);
      expect(json(answer.body)).toMatchObject({ code: "forbidden", message: expect.stringContaining("names no device") as unknown });
    } finally {
      stranger.destroy();
    }
  });

  it("serves a polling agent that proves its EDGE_ID with its device token, and refuses a wrong token", async () => {
    await using agent = await fixture.agent("fleet-poll");
    const token = agent.welcome.deviceToken;
    expect(token).toBeDefined();
    stacks.set(agent.welcome.environmentId, [stack(3)]);
    await desired.changed([agent.welcome.environmentId]);
    await agent.close();

    const ok = await pollingRequest(fixture.port, fixture.ca, "GET", edgePaths.desiredState, { [edgeHeaders.edgeId]: "fleet-poll", [edgeHeaders.deviceToken]: token ?? "" });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as DesiredState).stacks).toEqual([stack(3)]);
    const wrong = await pollingRequest(fixture.port, fixture.ca, "GET", edgePaths.desiredState, { [edgeHeaders.edgeId]: "fleet-poll", [edgeHeaders.deviceToken]: "not-the-token" });
    expect(wrong.status).toBe(403);
    expect(json(wrong.body)).toMatchObject({ code: "forbidden", message: expect.stringContaining("does not prove it is device fleet-poll") as unknown });
    const report = await pollingRequest(fixture.port, fixture.ca, "POST", edgePaths.report, { [edgeHeaders.edgeId]: "fleet-poll", [edgeHeaders.deviceToken]: token ?? "" }, JSON.stringify({ stacks: [{ stackId: 3, version: 1, type: 7, time: 1 }] }));
    expect(report.status).toBe(204);
    expect(received.stacks).toContainEqual([agent.welcome.environmentId, { stackId: 3, version: 1, type: 7, time: 1 }]);
  });

  it("acknowledges a report only after every sink stored it, and not when one fails", async () => {
    await using agent = await fixture.agent("fleet-report");
    const environmentId = agent.welcome.environmentId;
    const report: FleetReport = { stacks: [{ stackId: 4, version: 2, type: 3, time: 10 }, { stackId: 4, version: 2, type: 7, time: 11 }], jobs: [] };
    const answer = await agent.post(edgePaths.report, JSON.stringify(report));
    expect(answer).toEqual({ status: 204, body: "" });
    expect(received.stacks.filter(([id]) => id === environmentId).map(([, r]) => r.type)).toEqual([3, 7]);

    failSink = true;
    try {
      const failed = await agent.post(edgePaths.report, JSON.stringify(report));
      expect(failed.status).toBe(500);
      expect(received.stacks.filter(([id]) => id === environmentId)).toHaveLength(2);
    } finally {
      failSink = false;
    }

    const logs = await agent.post(edgePaths.jobLogs, JSON.stringify({ jobId: 5, content: "hello\n" }));
    expect(logs.status).toBe(204);
    expect(received.logs).toContainEqual([environmentId, { jobId: 5, content: "hello\n" }]);
  });

  it("refuses reports over the limits: too many events, wrong types, too large a body", async () => {
    await using agent = await fixture.agent("fleet-limits");
    const event = { stackId: 1, version: 1, type: 7, time: 1 };
    const tooMany = await agent.post(edgePaths.report, JSON.stringify({ stacks: Array.from({ length: fleetLimits.reportEvents + 1 }, () => event) }));
    expect(tooMany.status).toBe(400);
    expect(json(tooMany.body)).toMatchObject({ code: "bad_request", message: expect.stringContaining("stacks") as unknown });
    const split = await agent.post(edgePaths.report, JSON.stringify({ stacks: Array.from({ length: 150 }, () => event), jobs: Array.from({ length: 51 }, () => ({ jobId: 1, version: 1, startedAt: 0, finishedAt: 1, exitCode: 0 })) }));
    expect(split.status).toBe(400);
    expect(json(split.body)).toMatchObject({ message: expect.stringContaining(`at most ${fleetLimits.reportEvents} events`) as unknown });
    const wrongType = await agent.post(edgePaths.report, JSON.stringify({ stacks: [{ ...event, type: "running" }] }));
    expect(wrongType.status).toBe(400);
    expect(json(wrongType.body)).toMatchObject({ message: expect.stringContaining("stacks.0.type") as unknown });
    const notJson = await agent.post(edgePaths.report, "{");
    expect(notJson.status).toBe(400);
    const large = await agent.post(edgePaths.report, JSON.stringify({ stacks: [{ ...event, error: "x".repeat(fleetLimits.reportBytes) }] }));
    expect(large.status).toBe(413);
    expect(json(large.body)).toMatchObject({ code: "payload_too_large" });
    const largeLogs = await agent.post(edgePaths.jobLogs, JSON.stringify({ jobId: 1, content: "x".repeat(fleetLimits.jobLogBytes + 1) }));
    expect(largeLogs.status).toBe(400);
    expect(json(largeLogs.body)).toMatchObject({ message: expect.stringContaining("content") as unknown });
    // Precondition: the same connection still takes a report within the limits.
    expect((await agent.post(edgePaths.report, JSON.stringify({ stacks: [event] }))).status).toBe(204);
  });

  it("keeps the previous version of a device whose desired state is too large, and says why", async () => {
    await using agent = await fixture.agent("fleet-large");
    const environmentId = agent.welcome.environmentId;
    stacks.set(environmentId, [stack(1)]);
    await desired.changed([environmentId]);
    const version = (await agent.next("status")).desiredStateVersion;
    expect(version).toBeDefined();

    stacks.set(environmentId, [{ ...stack(1, 2), composeFile: "x".repeat(70 * 1024) }]);
    await desired.changed([environmentId]);
    const stored = await fixture.store.environments.get(environmentId);
    expect(stored?.desiredStateVersion).toBe(version);
    expect(stored?.desiredStateError).toMatch(/is \d+ bytes, over the 65536 a device takes; the device keeps running its previous one/);
    // What the operator sees on the device's page (GET /api/endpoints/{id}).
    const view = endpointView(stored ?? fail(), await fixture.store.settings.get(), { lastCheckIn: null, connected: true, docker: null });
    expect(view.Pier).toMatchObject({ DesiredStateVersion: version, DesiredStateError: expect.stringContaining("the device keeps running its previous one") as unknown });
    const answer = await getOn(agent.connection, edgePaths.desiredState);
    expect(answer.status).toBe(413);
    await expect(agent.next("status", 300)).rejects.toThrow(/no status frame/);

    stacks.set(environmentId, [stack(1, 3)]);
    await desired.changed([environmentId]);
    await vi.waitFor(async () => expect((await fixture.store.environments.get(environmentId))?.desiredStateError).toBeUndefined());
    expect((await agent.next("status")).desiredStateVersion).not.toBe(version);
  });
});
