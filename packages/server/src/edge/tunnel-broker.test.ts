import http from "node:http";
import { constants } from "node:http2";
import https from "node:https";
import type { Duplex } from "node:stream";
import { edgePaths, tunnelRequestSchema } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type FakeDocker, startFakeDocker } from "../docker/fake-docker.testkit.ts";
import { ServerError } from "../errors.ts";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";
import type { ServedTunnel, TestAgent } from "./test-agent.testkit.ts";
import { TunnelBroker } from "./tunnel-broker.ts";

// Asymmetric matchers are typed `any`; these keep the assertions readable and the linter content.
const containing = (text: string): unknown => expect.stringContaining(text);

/** Reads a stream to its end as text. */
function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("end", () => resolve(text));
    stream.on("error", reject);
  });
}

/** The status and body of a tunnel stream the agent opened. */
function answerOf(stream: ReturnType<TestAgent["openTunnel"]>): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("close", () => resolve({ status, body }));
    stream.end();
  });
}

/** Resolves once an HTTP/2 stream has closed (at once if it already has). */
function closedOf(stream: ReturnType<TestAgent["openTunnel"]>): Promise<void> {
  return new Promise((resolve) => (stream.closed ? resolve() : stream.once("close", () => resolve())));
}

/** One HTTP/1.1 request through a tunnel, as the Docker proxy makes it. */
function requestThrough(tunnel: Duplex, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ createConnection: () => tunnel, method: body === undefined ? "GET" : "POST", path, headers: { host: "docker" } }, (response) => {
      readAll(response).then((text) => resolve({ status: response.statusCode ?? 0, body: text }), reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

describe("TunnelBroker without a network", () => {
  it("fails at once when the device has no open session", async () => {
    const broker = new TunnelBroker({ push: () => false });
    await expect(broker.open(7)).rejects.toMatchObject({ code: "unavailable", message: containing("Environment 7 has no open edge session") });
    expect(broker.pendingCount).toBe(0);
  });

  it("gives up after 5 s by default, saying so, and forgets the id", async () => {
    vi.useFakeTimers();
    try {
      const pushed: unknown[] = [];
      const broker = new TunnelBroker({ push: (_id, message) => pushed.push(message) > 0 });
      const opening = broker.open(3);
      const failure = expect(opening).rejects.toThrow(/^The device did not open a tunnel within 5 s \(environment 3\): it is not reachable right now — its network link is down or too slow/);
      expect(broker.pendingCount).toBe(1);
      await vi.advanceTimersByTimeAsync(4_999);
      expect(broker.pendingCount).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await failure;
      await expect(opening).rejects.toBeInstanceOf(ServerError);
      await expect(opening).rejects.toMatchObject({ code: "unavailable", status: 503 });
      // Before (chaos suite, partition): "check that its agent is running a version with Docker support", for a cut link.
      await expect(opening).rejects.toMatchObject({ fix: containing("Retry in a few seconds. If it keeps failing, check the device's network") });
      expect(broker.pendingCount).toBe(0);
      const frame = tunnelRequestSchema.parse(pushed[0]);
      expect(frame.id.length).toBeGreaterThanOrEqual(16);
      expect(() => broker.accept(frame.id, 3, undefined)).toThrow(expect.objectContaining({ code: "not_found" }));
    } finally {
      vi.useRealTimers();
    }
  });

  it("stops waiting when the caller aborts, and when the server shuts down", async () => {
    const broker = new TunnelBroker({ push: () => true });
    const controller = new AbortController();
    const aborted = broker.open(1, { signal: controller.signal });
    const reason = new ServerError("unavailable", "The client went away.");
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    const shutdown = broker.open(1);
    broker.closeAll();
    await expect(shutdown).rejects.toMatchObject({ message: "The server is shutting down." });
    expect(broker.pendingCount).toBe(0);
  });

  it("hands out a fresh random id per tunnel", () => {
    const ids: string[] = [];
    const broker = new TunnelBroker({ push: (_id, message) => ids.push(message.id) > 0 });
    for (let i = 0; i < 50; i++) broker.open(1, { timeoutMs: 60_000 }).catch(() => undefined);
    broker.closeAll();
    expect(new Set(ids).size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe("TunnelBroker over HTTP/2 and TLS", () => {
  let fixture: EdgeFixture;
  let docker: FakeDocker;
  beforeAll(async () => {
    fixture = await startEdgeFixture();
    docker = await startFakeDocker();
  });
  afterAll(async () => {
    await docker[Symbol.asyncDispose]();
    await fixture[Symbol.asyncDispose]();
  });

  it("pushes tunnel {id} on the session and resolves with a byte pipe when the agent opens the stream", async () => {
    await using agent = await fixture.agent("tunnel-1");
    const opening = fixture.tunnels.open(agent.welcome.environmentId);
    const { id } = await agent.next("tunnel");
    const stream = agent.openTunnel(id);
    const status = new Promise((resolve) => stream.once("response", (headers) => resolve(headers[":status"])));
    const tunnel = await opening;
    expect(await status).toBe(200);

    // Server → device is the response body; device → server is the request body.
    tunnel.write("to docker");
    const received = await new Promise<string>((resolve) => stream.once("data", (chunk: Buffer) => resolve(chunk.toString())));
    expect(received).toBe("to docker");
    stream.write("from docker");
    const read = await new Promise<string>((resolve) => tunnel.once("data", (chunk: Buffer) => resolve(chunk.toString())));
    expect(read).toBe("from docker");

    // Each side's end reaches the other; then the stream closes cleanly.
    const deviceSawEnd = new Promise((resolve) => stream.once("end", resolve));
    stream.resume();
    tunnel.end();
    await deviceSawEnd;
    const tunnelEnded = new Promise((resolve) => tunnel.once("end", resolve));
    tunnel.resume();
    stream.end();
    await tunnelEnded;
    await closedOf(stream);
    expect(stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    await vi.waitFor(() => expect(tunnel.destroyed).toBe(true));
  });

  it("carries HTTP/1.1 to the Docker Engine the agent connects it to, large bodies included", async () => {
    await using agent = await fixture.agent("tunnel-2");
    agent.serveTunnels(docker);
    const environmentId = agent.welcome.environmentId;
    expect(await requestThrough(await fixture.tunnels.open(environmentId), "/_ping")).toEqual({ status: 200, body: "OK" });
    const big = await requestThrough(await fixture.tunnels.open(environmentId), `/big?bytes=${5 * 1024 * 1024}`);
    expect(big.body.length).toBe(5 * 1024 * 1024);
    const payload = "x".repeat(3 * 1024 * 1024);
    const echoed = await requestThrough(await fixture.tunnels.open(environmentId), "/echo", payload);
    expect(echoed.body.length).toBe(payload.length);
    expect(echoed.body === payload).toBe(true);
  });

  it("refuses a tunnel stream from another device's connection (403) and keeps it waiting for the right one", async () => {
    await using owner = await fixture.agent("tunnel-3");
    await using other = await fixture.agent("tunnel-3-other");
    const opening = fixture.tunnels.open(owner.welcome.environmentId);
    const { id } = await owner.next("tunnel");
    const refused = await answerOf(other.openTunnel(id));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toEqual({ code: "forbidden", message: containing(`belongs to environment ${owner.welcome.environmentId}`) });

    const stream = owner.openTunnel(id);
    const tunnel = await opening;
    tunnel.destroy();
    await closedOf(stream);
  });

  it("asks again on the session that replaces the one it asked on, so a tunnel requested while the agent reconnects is not lost", async () => {
    await using before = await fixture.agent("tunnel-moving");
    const environmentId = before.welcome.environmentId;
    const opening = fixture.tunnels.open(environmentId);
    const { id } = await before.next("tunnel");
    // The agent reconnects as the same device (as with its newly issued certificate) before answering.
    await using after = await fixture.agent("tunnel-moving", { environmentId, ...(before.welcome.deviceToken ? { deviceToken: before.welcome.deviceToken } : {}) });
    expect(after.welcome.environmentId).toBe(environmentId);
    expect((await after.next("tunnel")).id).toBe(id);
    const stream = after.openTunnel(id);
    const tunnel = await opening;
    expect(fixture.tunnels.openCount(environmentId)).toBe(1);
    tunnel.destroy();
    await closedOf(stream);
  });

  it("answers 404 for unknown, taken and expired ids, and refuses tunnel streams over HTTP/1.1", async () => {
    await using agent = await fixture.agent("tunnel-4");
    expect((await answerOf(agent.openTunnel("AAAAAAAAAAAAAAAAAAAAAA"))).status).toBe(404);
    expect((await answerOf(agent.openTunnel("short"))).status).toBe(404);

    const opening = fixture.tunnels.open(agent.welcome.environmentId);
    const { id } = await agent.next("tunnel");
    const first = agent.openTunnel(id);
    (await opening).destroy();
    await closedOf(first);
    const again = await answerOf(agent.openTunnel(id));
    expect(again.status).toBe(404);
    expect(JSON.parse(again.body)).toEqual({ code: "not_found", message: containing(`No tunnel ${id} is being waited for`) });

    const expiring = fixture.tunnels.open(agent.welcome.environmentId, { timeoutMs: 100 });
    const late = await agent.next("tunnel");
    await expect(expiring).rejects.toThrow("The device did not open a tunnel within 0.1 s");
    expect((await answerOf(agent.openTunnel(late.id))).status).toBe(404);

    const waiting = fixture.tunnels.open(agent.welcome.environmentId);
    const overH1 = await agent.next("tunnel");
    const status = await new Promise<number>((resolve, reject) => {
      const request = https.request({ host: "127.0.0.1", port: fixture.port, method: "POST", path: `${edgePaths.tunnel}${overH1.id}`, ca: fixture.ca, servername: "", agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      request.on("error", reject);
      request.end();
    });
    expect(status).toBe(403);
    fixture.tunnels.closeAll();
    await expect(waiting).rejects.toThrow("shutting down");
  });

  it("resets the stream (CANCEL) when the server destroys the pipe with an error, so the agent drops its Docker connection", async () => {
    await using agent = await fixture.agent("tunnel-5");
    const served: ServedTunnel[] = [];
    agent.serveTunnels(docker, (tunnel) => served.push(tunnel));
    const tunnel = await fixture.tunnels.open(agent.welcome.environmentId);
    await vi.waitFor(() => expect(served).toHaveLength(1));
    tunnel.on("error", () => undefined);
    tunnel.destroy(new Error("client went away"));
    expect(await served[0]?.closed).toBe(constants.NGHTTP2_CANCEL);
    await vi.waitFor(() => expect(served[0]?.socket.destroyed).toBe(true));
  });

  it("ends the response, then resets with NO_ERROR, when the server destroys the pipe without an error while the device still sends", async () => {
    await using agent = await fixture.agent("tunnel-6");
    const opening = fixture.tunnels.open(agent.welcome.environmentId);
    const stream = agent.openTunnel((await agent.next("tunnel")).id);
    const tunnel = await opening;
    tunnel.write("last words");
    const body = readAll(stream);
    tunnel.destroy();
    expect(await body).toBe("last words");
    await closedOf(stream);
    expect(stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
  });

  it("fails the pipe with unavailable when the agent resets the stream or drops the connection", async () => {
    await using agent = await fixture.agent("tunnel-7");
    const opening = fixture.tunnels.open(agent.welcome.environmentId);
    const stream = agent.openTunnel((await agent.next("tunnel")).id);
    const tunnel = await opening;
    const failed = new Promise<Error>((resolve) => tunnel.once("error", resolve));
    stream.close(constants.NGHTTP2_CANCEL);
    expect(await failed).toMatchObject({ code: "unavailable", message: containing("The tunnel to the device closed before it was done (HTTP/2 code 8): the device's session ended"), fix: containing("Retry once the device is online again") });

    const second = fixture.tunnels.open(agent.welcome.environmentId);
    agent.openTunnel((await agent.next("tunnel")).id);
    const dropped = await second;
    const droppedError = new Promise<Error>((resolve) => dropped.once("error", resolve));
    await agent.close();
    expect(await droppedError).toMatchObject({ code: "unavailable" });
    expect(dropped.destroyed).toBe(true);
  });

  it("ends the open tunnels of a session the server ends for silence, by dropping its connection (chaos suite, partition)", async () => {
    // The session clock sweeps every second against Date.now (taken when the edge routes start):
    // a fixture of its own, started with Date.now under the test's control, lets 30 s pass at once.
    const realNow = Date.now.bind(Date);
    let offset = 0;
    const now = vi.spyOn(Date, "now").mockImplementation(() => realNow() + offset);
    try {
      await using silent = await startEdgeFixture();
      await using agent = await silent.agent("tunnel-silent");
      const opening = silent.tunnels.open(agent.welcome.environmentId);
      agent.openTunnel((await agent.next("tunnel")).id);
      const tunnel = await opening;
      const failed = new Promise<Error>((resolve) => tunnel.once("error", resolve));
      const dropped = new Promise<void>((resolve) => agent.connection.once("close", () => resolve()));
      // The agent goes silent (a cut link looks the same from here): past three 5 s intervals
      // and their 10 s slack, the next sweep ends the session.
      offset = 30_000;
      // Before: the session stream ended, the connection stayed, and the tunnel (with the
      // proxied request on it) waited for an answer that could never come.
      expect(await failed).toMatchObject({ code: "unavailable", message: containing("the device's session ended") });
      await dropped;
      expect(tunnel.destroyed).toBe(true);
    } finally {
      now.mockRestore();
    }
  }, 15_000);
});
