import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { startEdgeFixture } from "./edge-fixture.testkit.ts";
import { announceRestart, restartWindowSeconds } from "./restart-notice.ts";

describe("restart notice", () => {
  it("spreads reconnects at 500 a second: ceil(sessions / 500) s, 1 s to 60 s", () => {
    expect(restartWindowSeconds(0)).toBe(1);
    expect(restartWindowSeconds(2)).toBe(1);
    expect(restartWindowSeconds(501)).toBe(2);
    expect(restartWindowSeconds(15_000)).toBe(30);
    expect(restartWindowSeconds(50_000)).toBe(60);
  });

  it("tells no delay shorter than the server needs to be back, and none past the agent's 60 s cap", async () => {
    await using fixture = await startEdgeFixture();
    const agent = await fixture.agent("restart-earliest");
    const notice = announceRestart(fixture.edge, { earliestSeconds: 6.2, random: () => 0.999 });
    expect(notice.earliestSeconds).toBe(7);
    expect(await agent.next("refused")).toMatchObject({ code: "restarting", retryAfterSeconds: 7 });
    notice.stop();
    const capped = announceRestart(fixture.edge, { earliestSeconds: 90 });
    expect(capped.earliestSeconds).toBe(60);
    capped.stop();
    agent.connection.close();
  });

  it("ends every open session with refused restarting and its own delay, and tells a session that opens afterwards", async () => {
    await using fixture = await startEdgeFixture();
    const a = await fixture.agent("restart-a");
    const b = await fixture.agent("restart-b");
    // Precondition: both sessions held.
    expect(fixture.edge.heldSessions().sort()).toEqual([a.welcome.environmentId, b.welcome.environmentId].sort());
    const draws = [0, 0.999];
    const notice = announceRestart(fixture.edge, { random: () => draws.shift() ?? 0.5 });
    expect(notice.windowSeconds).toBe(1);
    for (const agent of [a, b]) {
      expect(await agent.next("refused")).toEqual({ type: "refused", code: "restarting", message: "The server is restarting; reconnect in 1 s.", retryAfterSeconds: 1 });
    }
    expect(fixture.edge.heldSessions()).toEqual([]);
    // A hello that was in flight opens its session after the announcement: it is told too.
    const late = await fixture.agent("restart-late");
    expect(await late.next("refused")).toMatchObject({ code: "restarting", retryAfterSeconds: 1 });
    expect(notice.told()).toBe(3);
    notice.stop();
    const after = await fixture.agent("restart-after");
    await sleep(100);
    expect(fixture.edge.isConnected(after.welcome.environmentId)).toBe(true);
    for (const agent of [a, b, late, after]) agent.connection.close();
  });
});
