import { encodeFrame } from "@pier/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClockSkews } from "./clock-skews.ts";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";

const hour = 3_600_000;

describe("ClockSkews", () => {
  it("says when a skew becomes reportable, moves by a minute or more, and goes back in line", () => {
    const skews = new ClockSkews();
    const at = new Date("2026-12-07T12:00:00Z");
    expect(skews.report(1, at.getTime() - 59_000, at)).toBeUndefined();
    expect(skews.report(1, at.getTime() - 5 * hour, at)).toBe("skewed");
    expect(skews.of(1)).toEqual({ skewMs: -5 * hour, at });
    expect(skews.report(1, at.getTime() - 5 * hour - 30_000, at)).toBeUndefined();
    expect(skews.report(1, at.getTime() - 6 * hour, at)).toBe("changed");
    expect(skews.report(1, at.getTime() + 200, at)).toBe("agrees");
    skews.forget(1);
    expect(skews.of(1)).toBeUndefined();
  });
});

describe("hello.clock and heartbeat.clock: the device's clock on its session", () => {
  let fixture: EdgeFixture;
  const logs: string[] = [];
  beforeAll(async () => {
    fixture = await startEdgeFixture({ edge: { log: (level, message) => logs.push(`${level}: ${message}`) } });
  });
  afterAll(() => fixture[Symbol.asyncDispose]());

  it("records the skew of the hello, logs it with the amount, answers with the server's time, and follows the heartbeats", async () => {
    const before = Date.now();
    await using agent = await fixture.agent("clock-skew-1", { clock: Date.now() - 5 * hour - 2 * 60_000 });
    const id = agent.welcome.environmentId;
    expect(agent.welcome.time).toBeGreaterThanOrEqual(before);
    expect(Math.round((fixture.edge.clockSkewOf(id)?.skewMs ?? 0) / 60_000)).toBe(-302);
    expect(logs.join("\n")).toMatch(/environment \d+ \(clock-skew-1\): its clock is 5 h 2 min behind the server's .*set the device's clock \(NTP\)/);

    agent.session.write(encodeFrame({ type: "heartbeat", seq: 1, clock: Date.now() }));
    const ack = await agent.next("ack");
    expect(ack.time).toBeGreaterThanOrEqual(before);
    expect(Math.abs(fixture.edge.clockSkewOf(id)?.skewMs ?? Infinity)).toBeLessThan(5_000);
    expect(logs.join("\n")).toMatch(/its clock now agrees with the server's/);
    agent.session.write(encodeFrame({ type: "heartbeat", seq: 2 }));
    await agent.next("ack");
    expect(Math.abs(fixture.edge.clockSkewOf(id)?.skewMs ?? Infinity)).toBeLessThan(5_000);
  });

  it("knows nothing of an agent that does not send its clock", async () => {
    await using agent = await fixture.agent("clock-skew-2");
    expect(fixture.edge.clockSkewOf(agent.welcome.environmentId)).toBeUndefined();
  });
});
