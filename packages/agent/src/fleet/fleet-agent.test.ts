import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { edgeHeaders, edgePaths, encodeEdgeKey, encodeFrame, fleetReportSchema, type DesiredStack, type DesiredState, type FleetReport } from "@pier/protocol";
import { loadAgentConfig } from "../config.ts";
import { until } from "../docker/docker-cli.testkit.ts";
import { readText } from "../docker/h2c-server.testkit.ts";
import { recordingLogger } from "../docker/recording-logger.testkit.ts";
import { EdgeAgent } from "../edge-agent.ts";
import { serverCertificate } from "../server-certificate.testkit.ts";
import type { FleetReporter, StackRuntime } from "./fleet-contracts.ts";

const stack: DesiredStack = { id: 1, name: "web", version: 3, deploymentType: 0, composeFile: "services:\n  web:\n    image: nginx\n", envVars: [], registries: [{ serverAddress: "registry.local:5000", username: "u", password: "secret" }] };
const document: DesiredState = { version: "ab".repeat(32), stacks: [stack], jobs: [] };

/**
 * A stand-in for the Pier server's edge side over real HTTP/2 and TLS (the server's own routes
 * are tested in packages/server/src/edge/fleet-routes.test.ts): welcomes with a desired-state
 * version, serves the document, records reports.
 */
function standInServer(certificate: { cert: string; key: string }) {
  const reports: FleetReport[] = [];
  let fetches = 0;
  const sessions = new Set<ServerHttp2Session>();
  const server: Http2SecureServer = createSecureServer(certificate);
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const path = String(headers[":path"]);
    if (path === edgePaths.session) {
      stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
      stream.write(encodeFrame({ type: "welcome", environmentId: 7, status: "associated", checkinIntervalSeconds: 5, desiredStateVersion: document.version }));
    } else if (path === edgePaths.desiredState) {
      fetches++;
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify(document));
    } else if (path === edgePaths.report) {
      void readText(stream).then((body) => {
        reports.push(fleetReportSchema.parse(JSON.parse(body)));
        stream.respond({ ":status": 204 }, { endStream: true });
      });
    } else {
      stream.respond({ ":status": 404 }, { endStream: true });
    }
  });
  return {
    reports,
    fetches: () => fetches,
    listen: (port = 0) => new Promise<number>((resolve) => server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A stand-in stack runtime (no Docker): records each pass, and what the desired-state file held when it was called. */
function recordingRuntime(dataDir: string, reporter: FleetReporter, onPass?: (reporter: FleetReporter) => void) {
  const file = join(dataDir, "fleet", "desired-state.json");
  const passes: { stacks: readonly DesiredStack[]; file?: { mode: number; dirMode: number; content: DesiredState } }[] = [];
  const runtime: StackRuntime = {
    reconcile: (stacks) => {
      passes.push({
        stacks,
        ...(existsSync(file) ? { file: { mode: statSync(file).mode & 0o777, dirMode: statSync(join(dataDir, "fleet")).mode & 0o777, content: JSON.parse(readFileSync(file, "utf8")) as DesiredState } } : {}),
      });
      onPass?.(reporter);
      return Promise.resolve();
    },
  };
  return { runtime, passes };
}

describe("FleetAgent in the edge agent", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "pier-fleet-agent-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const { cert, key, fingerprint } = serverCertificate();
  const server = standInServer({ cert, key });

  it("writes the desired state (0600) before reconciling, reconciles from the file when restarted offline, and delivers reports queued offline after reconnecting", async () => {
    const port = await server.listen();
    const address = `127.0.0.1:${port}`;
    const env = { EDGE_ID: "fleet-agent-1", EDGE_KEY: encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: fingerprint, environmentId: 0 }), DOCKER_HOST: "unix:///nonexistent/docker.sock" };

    // 1. Online: the version in the welcome is fetched, kept, then acted on.
    let first: ReturnType<typeof recordingRuntime> | undefined;
    const log = recordingLogger();
    const agent = new EdgeAgent(loadAgentConfig({ flags: { data: dataDir }, env }), log, env, { stackRuntime: (reporter) => (first = recordingRuntime(dataDir, reporter)).runtime });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    const pass = await until("a reconcile pass with the stack", () => first?.passes.find((p) => p.stacks.length === 1));
    expect(server.fetches()).toBe(1);
    expect(pass.stacks).toEqual([stack]);
    expect(pass.file).toEqual({ mode: 0o600, dirMode: 0o700, content: document });
    stop.abort();
    await running;
    await server.close();

    // 2. Restarted with the server down: the kept target is reconciled at once; the pass's
    // reports wait in the outbox file.
    let second: ReturnType<typeof recordingRuntime> | undefined;
    const offlineLog = recordingLogger();
    const restarted = new EdgeAgent(loadAgentConfig({ flags: { data: dataDir }, env }), offlineLog, env, {
      stackRuntime: (reporter) => (second = recordingRuntime(dataDir, reporter, (r) => r.stack({ stackId: 1, version: 3, type: 7, time: 1_733_500_000 }))).runtime,
    });
    const stopAgain = new AbortController();
    const runningAgain = restarted.run(stopAgain.signal);
    try {
      const offlinePass = await until("the offline reconcile pass", () => second?.passes[0]);
      expect(offlinePass.stacks).toEqual([stack]);
      const outbox = join(dataDir, "fleet", "outbox.json");
      await until("the report kept in the outbox file", () => (existsSync(outbox) && readFileSync(outbox, "utf8").includes('"stackId":1') ? true : undefined));
      expect(JSON.parse(readFileSync(outbox, "utf8"))).toMatchObject({ stacks: [{ stackId: 1, version: 3, type: 7 }] });
      expect(statSync(outbox).mode & 0o777).toBe(0o600);
      expect(server.reports).toEqual([]);

      // 3. The server comes back: the queued report is delivered and leaves the outbox.
      await server.listen(port);
      const delivered = await until("the queued report on the server", () => server.reports.find((r) => r.stacks.length > 0), 30_000);
      expect(delivered.stacks[0]).toEqual({ stackId: 1, version: 3, type: 7, time: 1_733_500_000 });
      await until("the outbox emptied", () => ((JSON.parse(readFileSync(outbox, "utf8")) as { stacks: unknown[] }).stacks.length === 0 ? true : undefined));
      // The version held is the server's: nothing fetched again.
      expect(server.fetches()).toBe(1);
      expect(offlineLog.lines.map((line) => line.message).join("\n")).not.toContain("secret");
    } finally {
      stopAgain.abort();
      await runningAgain;
      await server.close();
    }
  }, 60_000);

  it("polls: fetches the document and posts reports on new HTTP/1.1 connections naming its EDGE_ID with its device token", async () => {
    const pollDir = mkdtempSync(join(tmpdir(), "pier-fleet-poll-"));
    const seen: { path: string; edgeId: unknown; token: unknown }[] = [];
    const reports: FleetReport[] = [];
    const https = createHttpsServer({ cert, key }, (req, res) => {
      const path = req.url ?? "";
      if (path === edgePaths.checkin) {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ type: "welcome", environmentId: 8, status: "associated", checkinIntervalSeconds: 1, deviceToken: "poll-token", desiredStateVersion: document.version }));
        return;
      }
      seen.push({ path, edgeId: req.headers[edgeHeaders.edgeId], token: req.headers[edgeHeaders.deviceToken] });
      if (path === edgePaths.desiredState) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(document));
      } else if (path === edgePaths.report) {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (chunk: string) => (body += chunk));
        req.on("end", () => {
          reports.push(fleetReportSchema.parse(JSON.parse(body)));
          res.writeHead(204);
          res.end();
        });
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(https.address() as AddressInfo).port}`;
    const env = { EDGE_ID: "fleet-poller", PIER_EDGE_MODE: "poll", EDGE_KEY: encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: fingerprint, environmentId: 0 }) };
    let runtime: ReturnType<typeof recordingRuntime> | undefined;
    const agent = new EdgeAgent(loadAgentConfig({ flags: { data: pollDir }, env }), recordingLogger(), env, {
      stackRuntime: (reporter) => (runtime = recordingRuntime(pollDir, reporter, (r) => r.stack({ stackId: 1, version: 3, type: 3, time: 1 }))).runtime,
    });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    try {
      const pass = await until("a reconcile pass with the stack", () => runtime?.passes.find((p) => p.stacks.length === 1));
      expect(pass.file?.content).toEqual(document);
      await until("a report", () => reports[0]);
      expect(seen.find((request) => request.path === edgePaths.desiredState)).toEqual({ path: edgePaths.desiredState, edgeId: "fleet-poller", token: "poll-token" });
      expect(seen.find((request) => request.path === edgePaths.report)).toMatchObject({ edgeId: "fleet-poller", token: "poll-token" });
    } finally {
      stop.abort();
      await running;
      https.close();
      rmSync(pollDir, { recursive: true, force: true });
    }
  }, 60_000);
});
