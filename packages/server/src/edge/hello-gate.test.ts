import type { ClientHttp2Session } from "node:http2";
import { FrameDecoder, edgePaths, encodeFrame, protocolVersion, serverMessageSchema, type Hello, type ServerMessage } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { startEdgeFixture } from "./edge-fixture.testkit.ts";
import { HelloGate } from "./hello-gate.ts";
import { connectAgent } from "./test-agent.testkit.ts";

function hello(edgeId: string): Hello {
  return { type: "hello", protocol: protocolVersion, environmentId: 0, agent: { edgeId, agentVersion: "0.0.0-test", platform: "docker", hostname: edgeId, os: "linux", arch: "amd64" } };
}

/** Opens a session, says hello, resolves with the server's first frame. */
function firstFrame(connection: ClientHttp2Session, edgeId: string): Promise<ServerMessage> {
  const stream = connection.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
  stream.write(encodeFrame(hello(edgeId)));
  const decoder = new FrameDecoder(serverMessageSchema);
  return new Promise((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => {
      const [frame] = decoder.push(chunk);
      if (frame) resolve(frame);
    });
    stream.on("error", reject);
    stream.on("close", () => reject(new Error("the session closed without a frame")));
  });
}

/** One polling check-in; resolves with its status, `Retry-After` and body. */
function checkIn(connection: ClientHttp2Session, edgeId: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = connection.request({ ":method": "POST", ":path": edgePaths.checkin, "content-type": "application/json" });
    let status = 0;
    let retryAfter: string | undefined;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
      const value = headers["retry-after"];
      retryAfter = typeof value === "string" ? value : undefined;
    });
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("close", () => (status === 0 ? reject(new Error("no answer")) : resolve({ status, retryAfter, body })));
    stream.on("error", () => undefined);
    stream.end(JSON.stringify(hello(edgeId)));
  });
}

describe("HelloGate", () => {
  it("runs at most maxConcurrent at once, the queue in order of arrival, and refuses past it with a retry delay", async () => {
    const gate = new HelloGate({ maxConcurrent: 1, maxQueued: 2 }, { random: () => 0.999 });
    const releases: (() => void)[] = [];
    const order: string[] = [];
    const task = (name: string) => () =>
      new Promise<string>((resolve) => {
        order.push(name);
        releases.push(() => resolve(name));
      });
    const results = [gate.run(task("a")), gate.run(task("b")), gate.run(task("c"))];
    await Promise.resolve();
    expect(order).toEqual(["a"]);
    expect(gate.queued).toBe(2);
    // Full: no hello completed yet, so the rate counts as 1/s and the spread is the backlog (3 s).
    const refusal = await gate.run(task("d")).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ServerError);
    expect(refusal).toMatchObject({ code: "unavailable", message: "The server is busy admitting 3 other devices; retry in 3 s.", details: { retryAfterSeconds: 3 } });
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      releases[i]?.();
    }
    expect(await Promise.all(results)).toEqual(["a", "b", "c"]);
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("spreads the retry over ceil(backlog / measured rate) seconds, at most 60", async () => {
    let now = 1_000_000;
    let draw = 0.999;
    const gate = new HelloGate({ maxConcurrent: 1, maxQueued: 0 }, { random: () => draw, now: () => now });
    // 100 hellos done in the last 5 s: 20 a second.
    now += 5_000;
    for (let i = 0; i < 100; i++) await gate.run(() => Promise.resolve());
    let release = () => {};
    const held = gate.run(() => new Promise<void>((resolve) => (release = resolve)));
    expect(await gate.run(() => Promise.resolve()).catch((error: ServerError) => error.details)).toEqual({ retryAfterSeconds: 1 });
    release();
    await held;
    // A store that answers nothing for 10 s: the rate floors at 1/s, a big backlog waits 60 s at most.
    const stalled = new HelloGate({ maxConcurrent: 500, maxQueued: 0 }, { random: () => draw, now: () => now });
    const never = Array.from({ length: 500 }, () => stalled.run(() => new Promise<void>(() => undefined)));
    expect(never).toHaveLength(500);
    expect(await stalled.run(() => Promise.resolve()).catch((error: ServerError) => error.details)).toEqual({ retryAfterSeconds: 60 });
    draw = 0;
    expect(await stalled.run(() => Promise.resolve()).catch((error: ServerError) => error.details)).toEqual({ retryAfterSeconds: 1 });
  });

  it("drops a waiting hello whose device went away, without running it", async () => {
    const gate = new HelloGate({ maxConcurrent: 1, maxQueued: 5 });
    let release = () => {};
    const first = gate.run(() => new Promise<void>((resolve) => (release = resolve)));
    const gone = new AbortController();
    let ran = false;
    const waiting = gate.run(() => Promise.resolve(void (ran = true)), gone.signal);
    expect(gate.queued).toBe(1);
    gone.abort();
    const error = await waiting.catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ code: "unavailable" });
    expect((error as ServerError).message).toContain("went away");
    expect(gate.queued).toBe(0);
    release();
    await first;
    expect(ran).toBe(false);
  });
});

describe("the hello gate on the edge routes (real TLS and HTTP/2)", () => {
  it("tells a session past the queue to come back later (refused unavailable with retryAfterSeconds) and the check-in 503 + Retry-After", async () => {
    await using fixture = await startEdgeFixture({ hellos: new HelloGate({ maxConcurrent: 1, maxQueued: 0 }) });
    // The real hello of a first device, held at its listener hook (after the store work).
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = () => {};
    const isHeld = new Promise<void>((resolve) => (holding = resolve));
    fixture.edge.onHello(async (environment) => {
      if (environment.edgeId !== "first") return;
      holding();
      await held;
    });
    const connection = connectAgent({ port: fixture.port, ca: fixture.ca });
    try {
      const first = firstFrame(connection, "first");
      await isHeld; // precondition: one hello in progress, the only one allowed

      const refused = await firstFrame(connection, "second");
      expect(refused).toMatchObject({ type: "refused", code: "unavailable" });
      expect(refused.type === "refused" && refused.message).toMatch(/^The server is busy admitting 1 other devices; retry in \d+ s\.$/);
      expect(refused.type === "refused" && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(fixture.logs).toContainEqual(expect.stringContaining("edge session from 127.0.0.1 refused: The server is busy admitting 1 other devices"));

      const polled = await checkIn(connection, "third");
      expect(polled.status).toBe(503);
      expect(Number(polled.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(polled.body)).toMatchObject({ code: "unavailable", details: { retryAfterSeconds: Number(polled.retryAfter) } });
      // Nothing was enrolled for the refused devices.
      expect(await fixture.store.environments.getByEdgeId("second")).toBeNull();

      release();
      expect(await first).toMatchObject({ type: "welcome" });
      // The turn is free again: the same device is admitted (on a connection of its own).
      const again = connectAgent({ port: fixture.port, ca: fixture.ca });
      expect(await firstFrame(again, "second")).toMatchObject({ type: "welcome" });
      again.close();
    } finally {
      release();
      connection.close();
    }
  });
});
