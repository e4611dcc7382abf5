import https from "node:https";
import { edgePaths, maxSnapshotBytes } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sampleSnapshot } from "../store/snapshot.testkit.ts";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";
import { connectAgent, postOn } from "./test-agent.testkit.ts";

// Asymmetric matchers are typed `any`; these keep the assertions readable and the linter content.
const containing = (text: string): unknown => expect.stringContaining(text);
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

describe("edge routes: POST /api/edge/v1/snapshot", () => {
  let fixture: EdgeFixture;
  beforeAll(async () => {
    fixture = await startEdgeFixture();
  });
  afterAll(() => fixture[Symbol.asyncDispose]());

  it("stores the snapshot for the environment whose session shares the HTTP/2 connection, and answers 204", async () => {
    await using agent = await fixture.agent("snap-1");
    const environmentId = agent.welcome.environmentId;
    const before = Date.now();
    const answer = await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()));
    expect(answer).toEqual({ status: 204, body: "" });
    const stored = await fixture.store.snapshots.get(environmentId);
    expect(stored?.snapshot).toEqual(sampleSnapshot());
    expect(stored?.at.getTime()).toBeGreaterThanOrEqual(before);

    // A newer one replaces it.
    const newer = sampleSnapshot({ containers: [] });
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(newer))).status).toBe(204);
    expect((await fixture.store.snapshots.get(environmentId))?.snapshot).toEqual(newer);
  });

  it("answers 409 on a connection that carries no session, or no longer does", async () => {
    const stranger = connectAgent({ port: fixture.port, ca: fixture.ca });
    try {
      const answer = await postOn(stranger, edgePaths.snapshot, JSON.stringify(sampleSnapshot()));
      expect(answer.status).toBe(409);
      expect(json(answer.body)).toEqual({ code: "conflict", message: containing("This connection carries no edge session"), fix: containing("HTTP/2 connection of the device's session") });
    } finally {
      stranger.destroy();
    }

    await using agent = await fixture.agent("snap-2");
    await agent.endSession();
    await vi.waitFor(() => expect(fixture.edge.isConnected(agent.welcome.environmentId)).toBe(false));
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(409);
    expect(await fixture.store.snapshots.get(agent.welcome.environmentId)).toBeNull();
  });

  it("keeps the newer session's binding when an older session of the same device on the same connection closes", async () => {
    await using agent = await fixture.agent("snap-3");
    // A second session stream on the same connection replaces the first one.
    const second = agent.connection.request({ ":method": "POST", ":path": edgePaths.session }, { endStream: false });
    second.write(`${JSON.stringify({ type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "snap-3", agentVersion: "0", platform: "docker", hostname: "h", os: "linux", arch: "amd64" }, deviceToken: agent.welcome.deviceToken })}\n`);
    await new Promise((resolve) => second.once("data", resolve));
    await vi.waitFor(() => expect(agent.session.closed || agent.session.readableEnded).toBe(true));
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
    second.close();
  });

  it("refuses a second device's session on a connection that already carries one", async () => {
    await using agent = await fixture.agent("snap-4");
    const other = agent.connection.request({ ":method": "POST", ":path": edgePaths.session }, { endStream: false });
    other.write(`${JSON.stringify({ type: "hello", protocol: 1, environmentId: 0, agent: { edgeId: "snap-4-other", agentVersion: "0", platform: "docker", hostname: "h", os: "linux", arch: "amd64" } })}\n`);
    let text = "";
    other.setEncoding("utf8");
    other.on("data", (chunk: string) => (text += chunk));
    await new Promise((resolve) => other.once("end", resolve));
    expect(json(text.trim())).toEqual({ type: "refused", code: "conflict", message: containing(`already carries the session of environment ${agent.welcome.environmentId}`) });
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
  });

  it("answers 400 naming the invalid field, or saying the body is not JSON", async () => {
    await using agent = await fixture.agent("snap-5");
    const broken = { ...sampleSnapshot(), containers: [{ ...sampleSnapshot().containers[0], state: 7 }] };
    const answer = await agent.post(edgePaths.snapshot, JSON.stringify(broken));
    expect(answer.status).toBe(400);
    expect(json(answer.body)).toEqual({ code: "bad_request", message: matching(/^Invalid snapshot: containers\.0\.state: /) });
    const notJson = await agent.post(edgePaths.snapshot, "{not json");
    expect(notJson.status).toBe(400);
    expect(json(notJson.body)["message"]).toBe("The snapshot is not valid JSON.");
    expect(await fixture.store.snapshots.get(agent.welcome.environmentId)).toBeNull();
  });

  it("answers 413 past maxSnapshotBytes, declared or streamed, and stops the upload", async () => {
    await using agent = await fixture.agent("snap-6");
    // Refused on the header alone: the agent has sent a few bytes of its body when the answer comes.
    const declared = agent.connection.request({ ":method": "POST", ":path": edgePaths.snapshot, "content-length": maxSnapshotBytes + 1 }, { endStream: false });
    declared.on("error", () => undefined);
    declared.resume();
    declared.write(Buffer.alloc(16));
    const status = await new Promise((resolve) => declared.once("response", (headers) => resolve(headers[":status"])));
    expect(status).toBe(413);
    await new Promise((resolve) => declared.once("close", resolve));
    expect(declared.rstCode).toBe(0);
    const streamed = await agent.post(edgePaths.snapshot, Buffer.alloc(maxSnapshotBytes + 64 * 1024, 0x20));
    expect(streamed.status).toBe(413);
    expect(json(streamed.body)).toEqual({ code: "payload_too_large", message: `The snapshot exceeds ${maxSnapshotBytes} bytes.` });
    // The connection is still good for the next snapshot.
    expect((await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()))).status).toBe(204);
  });

  it("answers 505 over HTTP/1.1 and 403 without mTLS when mTLS is required", async () => {
    const h1 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https.request({ host: "127.0.0.1", port: fixture.port, path: edgePaths.snapshot, method: "POST", ca: fixture.ca, servername: "", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      request.on("error", reject);
      request.end(JSON.stringify(sampleSnapshot()));
    });
    expect(h1.status).toBe(505);

    await using agent = await fixture.agent("snap-7");
    fixture.mtlsRequired = true;
    try {
      const answer = await agent.post(edgePaths.snapshot, JSON.stringify(sampleSnapshot()));
      expect(answer.status).toBe(403);
      expect(json(answer.body)["message"]).toMatch(/only over mutual TLS/);
    } finally {
      fixture.mtlsRequired = false;
    }
  });
});
