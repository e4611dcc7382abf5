import { encodeFrame } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";

describe("heartbeat.docker: the device's Docker state on its session", () => {
  let fixture: EdgeFixture;
  beforeAll(async () => {
    fixture = await startEdgeFixture();
  });
  afterAll(() => fixture[Symbol.asyncDispose]());

  it("is unknown for an agent that never says, kept between heartbeats that leave it out, and forgotten when the session ends", async () => {
    await using agent = await fixture.agent("docker-state-1");
    const id = agent.welcome.environmentId;
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 1 }));
    expect((await agent.next("ack")).seq).toBe(1);
    expect(fixture.edge.dockerStateOf(id)).toBeUndefined();

    const reason = "Cannot reach Docker at unix:///var/run/docker.sock: there is no socket at /var/run/docker.sock: Docker is not running.";
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 2, docker: { state: "down", error: reason } }));
    expect((await agent.next("ack")).seq).toBe(2);
    expect(fixture.edge.dockerStateOf(id)).toMatchObject({ state: "down", error: reason });
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 3 }));
    expect((await agent.next("ack")).seq).toBe(3);
    expect(fixture.edge.dockerStateOf(id)?.state).toBe("down");
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 4, docker: { state: "up" } }));
    expect((await agent.next("ack")).seq).toBe(4);
    expect(fixture.edge.dockerStateOf(id)).toEqual({ state: "up", at: expect.any(Date) as unknown });

    await agent.endSession();
    await vi.waitFor(() => expect(fixture.edge.isConnected(id)).toBe(false));
    expect(fixture.edge.dockerStateOf(id)).toBeUndefined();
  });

  it("refuses a reason over 300 characters, naming the field, and keeps nothing of it", async () => {
    await using agent = await fixture.agent("docker-state-2");
    const id = agent.welcome.environmentId;
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 1, docker: { state: "down", error: "e".repeat(301) } }));
    const refused = await agent.next("refused");
    expect(refused.code).toBe("message_malformed");
    expect(refused.message).toContain("docker.error");
    expect(fixture.edge.dockerStateOf(id)).toBeUndefined();
  });
});
