import https from "node:https";
import { constants } from "node:http2";
import { edgePaths, encodeFrame, maxWaitingSnapshotBytes, protocolVersion, type Hello } from "@pier/protocol";
import { describe, expect, it } from "vitest";
import { sampleSnapshot } from "../store/snapshot.testkit.ts";
import { startEdgeFixture } from "./edge-fixture.testkit.ts";
import { maxSessionBacklogBytes } from "./edge-routes.ts";
import { connectAgent, postOn } from "./test-agent.testkit.ts";

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

const hello = (edgeId: string, deviceToken?: string): Hello => ({
  type: "hello",
  protocol: protocolVersion,
  environmentId: 0,
  agent: { edgeId, agentVersion: "0.0.0-test", platform: "docker", hostname: edgeId, os: "linux", arch: "amd64" },
  ...(deviceToken ? { deviceToken } : {}),
});

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** A polling check-in over HTTP/1.1: `body`, or `chunks` sent without a Content-Length. */
function checkin(port: number, ca: string, payload: { body?: string | Buffer; chunks?: Buffer[]; contentLength?: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": "application/json" };
    if (payload.contentLength !== undefined) headers["content-length"] = payload.contentLength;
    else if (payload.body !== undefined) headers["content-length"] = Buffer.byteLength(payload.body);
    const request = https.request({ host: "127.0.0.1", port, path: edgePaths.checkin, method: "POST", ca, servername: "", agent: false, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    // The server answers 413 and closes while the body is still going out.
    request.on("error", (error) => (payload.chunks || payload.contentLength !== undefined ? undefined : reject(error)));
    if (payload.chunks) {
      const chunks = [...payload.chunks];
      const next = () => {
        const chunk = chunks.shift();
        if (!chunk) return void request.end();
        if (request.destroyed) return;
        request.write(chunk, () => setImmediate(next));
      };
      next();
    } else if (payload.contentLength !== undefined) request.write(Buffer.alloc(1024, 0x20));
    else request.end(payload.body);
  });
}

describe("edge limits: request bodies", () => {
  it("answers 413 to a check-in declaring or streaming more than 64 KiB, before reading it all", async () => {
    await using fixture = await startEdgeFixture();
    // Precondition: a normal check-in is served.
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("checkin-ok")) })).status).toBe(200);
    const declared = await checkin(fixture.port, fixture.ca, { contentLength: 64 * 1024 * 1024 });
    expect(declared.status).toBe(413);
    expect(json(declared.body)).toMatchObject({ code: "payload_too_large" });
    // 16 MiB in 64 KiB chunks, no Content-Length: refused once 64 KiB have been read.
    const streamed = await checkin(fixture.port, fixture.ca, { chunks: Array.from({ length: 256 }, () => Buffer.alloc(64 * 1024, 0x20)) });
    expect(streamed.status).toBe(413);
    // Still serving.
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("checkin-after")) })).status).toBe(200);
  });

  it("refuses a waiting-room device's snapshot over 64 KiB with 413 and a reason, and takes it once the device is associated", async () => {
    await using fixture = await startEdgeFixture({ trustOnFirstConnect: false });
    await using agent = await fixture.agent("waiting-snap");
    expect(agent.welcome.status).toBe("waiting");
    // Precondition: a small snapshot is kept.
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
    const large = Buffer.alloc(maxWaitingSnapshotBytes + 1024, 0x20);
    const refused = await agent.post(edgePaths.snapshot, large);
    expect(refused.status).toBe(413);
    expect(json(refused.body)).toMatchObject({ code: "payload_too_large", message: expect.stringContaining("waiting room") as unknown });
    // Refused on the header alone, with most of the declared body never sent.
    const declared = agent.connection.request({ ":method": "POST", ":path": edgePaths.snapshot, "content-length": maxWaitingSnapshotBytes + 1 }, { endStream: false });
    declared.on("error", () => undefined);
    declared.resume();
    declared.write(Buffer.alloc(16));
    expect(await new Promise((resolve) => declared.once("response", (headers) => resolve(headers[":status"])))).toBe(413);
    await fixture.store.environments.update(agent.welcome.environmentId, { userTrusted: true });
    // Associated: the same size passes the size check (and fails only as the blank it is).
    const accepted = await agent.post(edgePaths.snapshot, large);
    expect(accepted.status).toBe(400);
  });
});

describe("edge limits: enrollment", () => {
  it("refuses the third new device from one address in a period with 429 and Retry-After, creates nothing, audits it, and never limits a known device", async () => {
    const logs: string[] = [];
    await using fixture = await startEdgeFixture({ edge: { enrollment: { perSource: { count: 2, periodMs: 60_000 }, waitingRoomMax: 100 }, log: (level, message) => logs.push(`${level}: ${message}`) } });
    const first = await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("rate-1")) });
    expect(first.status).toBe(200);
    const token = json(first.body)["deviceToken"] as string;
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("rate-2")) })).status).toBe(200);
    const third = await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("rate-3")) });
    expect(third.status).toBe(429);
    expect(Number(third.headers["retry-after"])).toBeGreaterThan(0);
    expect(json(third.body)).toMatchObject({ code: "too_many_requests", message: expect.stringContaining("at most 2 may enroll per minute") as unknown });
    expect(await fixture.store.environments.getByEdgeId("rate-3")).toBeNull();
    expect((await fixture.store.environments.list()).length).toBe(2);
    expect(logs).toContainEqual(expect.stringContaining("enrollment of rate-3 from 127.0.0.1 refused"));
    const audit = await fixture.store.audit.list({});
    expect(audit.filter((event) => event.kind === "enrollment_refused")).toEqual([expect.objectContaining({ edgeId: "rate-3", sourceAddress: "127.0.0.1" })]);
    // A known device reconnecting is not a new device.
    for (let i = 0; i < 3; i++) expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("rate-1", token)) })).status).toBe(200);
  });

  it("refuses a new device with 503 when the waiting room is full, but admits it when trusted on first connect", async () => {
    await using fixture = await startEdgeFixture({ trustOnFirstConnect: false, edge: { enrollment: { perSource: { count: 100, periodMs: 60_000 }, waitingRoomMax: 2 } } });
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("room-1")) })).status).toBe(200);
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("room-2")) })).status).toBe(200);
    const full = await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("room-3")) });
    expect(full.status).toBe(503);
    expect(full.headers["retry-after"]).toBe("60");
    expect(json(full.body)).toMatchObject({ code: "unavailable", message: expect.stringContaining("waiting room is full") as unknown });
    expect(await fixture.store.environments.getByEdgeId("room-3")).toBeNull();
    // Over a session, the refusal arrives as a refused frame with the same words.
    await expect(fixture.agent("room-4")).rejects.toThrow(/waiting room is full/);
    await fixture.store.settings.update({ trustOnFirstConnect: true });
    expect((await checkin(fixture.port, fixture.ca, { body: JSON.stringify(hello("room-3")) })).status).toBe(200);
  });
});

describe("edge limits: session backpressure", () => {
  it("closes the session of an agent that sends heartbeats but never reads the acks, with a log line, before 1 MiB more is queued", async () => {
    await using fixture = await startEdgeFixture();
    const connection = connectAgent({ port: fixture.port, ca: fixture.ca });
    try {
      const session = connection.request({ ":method": "POST", ":path": edgePaths.session, "content-type": "application/x-ndjson" }, { endStream: false });
      session.on("error", () => undefined);
      session.write(encodeFrame(hello("never-reads")));
      await new Promise((resolve) => session.once("data", resolve));
      // Never read again: Node stops granting the server flow-control window.
      session.pause();
      const closed = new Promise<number>((resolve) => session.once("close", () => resolve(session.rstCode ?? 0)));
      const batch = Buffer.from(Array.from({ length: 2000 }, (_, i) => encodeFrame({ type: "heartbeat", seq: i })).join(""));
      let sent = 0;
      let done = false;
      void closed.then(() => (done = true));
      // Up to 100 000 heartbeats (~3 MiB of acks owed); the server must give up well before.
      while (!done && sent < 50) {
        await new Promise((resolve) => session.write(batch, resolve));
        sent++;
      }
      expect(await closed).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      const line = fixture.logs.find((entry) => entry.includes("the agent is not reading"));
      expect(line).toMatch(/^warn: edge session of environment \d+ from 127\.0\.0\.1 closed/);
      const queued = Number(/\((\d+) bytes queued/.exec(line ?? "")?.[1]);
      expect(queued).toBeGreaterThan(maxSessionBacklogBytes);
      expect(queued).toBeLessThan(maxSessionBacklogBytes + 1024);
      // The connection itself still serves (a snapshot on another stream answers).
      expect((await postOn(connection, edgePaths.snapshot, "{}")).status).toBeGreaterThan(0);
    } finally {
      connection.close();
    }
  });
});
