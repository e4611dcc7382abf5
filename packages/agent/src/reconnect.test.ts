import { mkdtempSync, rmSync } from "node:fs";
import { createSecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { edgePaths, encodeEdgeKey, encodeFrame, type ServerMessage } from "@pier/protocol";
import { backoff, backoffDelay, healthySessionMs, wasHealthy } from "./backoff.ts";
import { loadAgentConfig } from "./config.ts";
import { recordingLogger } from "./docker/recording-logger.testkit.ts";
import { EdgeAgent } from "./edge-agent.ts";
import { serverCertificate } from "./server-certificate.testkit.ts";

/**
 * Runs a real agent for `ms` against a real HTTP/2 TLS server that welcomes each session and
 * ends it at once, after `farewell` frames (none: a plain close). Returns when each session opened.
 */
async function sessionsAgainst(farewell: ServerMessage[], ms: number) {
  const { cert, key, fingerprint } = serverCertificate();
  const opened: number[] = [];
  const server = createSecureServer({ cert, key });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    if (headers[":path"] !== edgePaths.session) {
      stream.respond({ ":status": 404 }, { endStream: true });
      return;
    }
    opened.push(Date.now());
    stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
    stream.write(encodeFrame({ type: "welcome", environmentId: 7, status: "associated", checkinIntervalSeconds: 5 }));
    for (const frame of farewell) stream.write(encodeFrame(frame));
    setTimeout(() => stream.end(), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dataDir = mkdtempSync(join(tmpdir(), "pier-agent-reconnect-"));
  const env = { EDGE_ID: "edge-reconnect-1", DOCKER_HOST: `unix://${join(dataDir, "no-docker.sock")}`, EDGE_KEY: encodeEdgeKey({ apiUrl: `https://${address}`, tunnelAddress: address, serverFingerprint: fingerprint, environmentId: 0 }) };
  const log = recordingLogger();
  const agent = new EdgeAgent(loadAgentConfig({ flags: { data: dataDir }, env }), log, env);
  const controller = new AbortController();
  const running = agent.run(controller.signal);
  try {
    await new Promise((resolve) => setTimeout(resolve, ms));
  } finally {
    controller.abort();
    await running;
    server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const gaps = opened.slice(1).map((at, i) => at - (opened[i] ?? at));
  return { opened, gaps, log };
}

describe("reconnect backoff after a session ends", () => {
  it("resets only after a session that stayed healthy, longer than a peer waiting at the ceiling", () => {
    expect(wasHealthy(undefined)).toBe(false);
    expect(wasHealthy(0)).toBe(false);
    expect(wasHealthy(healthySessionMs - 1)).toBe(false);
    expect(wasHealthy(healthySessionMs)).toBe(true);
    // A clone waits at most the ceiling before it takes the session back: never long enough.
    expect(healthySessionMs).toBeGreaterThan(backoffDelay(1000, () => 1));
    expect(healthySessionMs).toBeGreaterThanOrEqual(2 * backoff.capMs);
  });

  it("waits, with a growing delay, after sessions the server closes right after the welcome", async () => {
    const { opened, gaps, log } = await sessionsAgainst([], 4_000);
    // Precondition: the agent did reconnect.
    expect(opened.length).toBeGreaterThanOrEqual(2);
    // 0.5–1 s, then 1–2 s, then 2–4 s: at most 4 sessions in 4 s (it reconnected at once before).
    expect(opened.length).toBeLessThanOrEqual(4);
    expect(gaps[0]).toBeGreaterThanOrEqual(450);
    if (gaps[1] !== undefined) expect(gaps[1]).toBeGreaterThanOrEqual(950);
    expect(log.at("warn").filter((line) => line.includes("the server closed the session")).length).toBeGreaterThanOrEqual(opened.length - 1);
  });

  it("after refused: replaced, says once that another device uses its identity and what to do, and backs off", async () => {
    const { opened, gaps, log } = await sessionsAgainst([{ type: "refused", code: "replaced", message: "another connection presented this device's identity from 192.0.2.7; this session was closed" }], 4_000);
    expect(opened.length).toBeGreaterThanOrEqual(2);
    expect(opened.length).toBeLessThanOrEqual(4);
    expect(gaps[0]).toBeGreaterThanOrEqual(450);
    const plain = log.at("error").filter((line) => line.includes("another device is using this agent's identity"));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(/from 192\.0\.2\.7/);
    expect(plain[0]).toMatch(/its own --data directory .*agent\.json/);
    expect(log.at("debug").filter((line) => line.includes("session replaced again")).length).toBe(opened.length - 1);
  });

  it("after refused: unavailable with retryAfterSeconds (a busy server), waits at least that long before dialling again", async () => {
    const { opened, gaps } = await sessionsAgainst([{ type: "refused", code: "unavailable", message: "The server is busy admitting 2500 other devices; retry in 2 s.", retryAfterSeconds: 2 }], 3_500);
    // Precondition: it came back once. Before, it redialled after its 0.5–1 s backoff.
    expect(opened.length).toBe(2);
    expect(gaps[0]).toBeGreaterThanOrEqual(1950);
  });

  it("after refused: restarting, comes back after exactly the hint each time, says so at info, and its backoff does not grow", async () => {
    const { opened, gaps, log } = await sessionsAgainst([{ type: "refused", code: "restarting", message: "The server is restarting; reconnect in 1 s.", retryAfterSeconds: 1 }], 4_800);
    // Before: 0.5–1 s, 1–2 s, then 2–4 s, as after a failure.
    expect(opened.length).toBeGreaterThanOrEqual(4);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(950);
      expect(gap).toBeLessThan(1800);
    }
    expect(log.at("info").filter((line) => line === "the server is restarting: reconnecting in 1 s, as it asked").length).toBeGreaterThanOrEqual(opened.length - 1);
    expect(log.at("warn")).toEqual([]);
    expect(log.at("error")).toEqual([]);
  });
});
