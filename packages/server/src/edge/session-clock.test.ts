import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type ClockedSession, type SessionDue, SessionClock } from "./session-clock.ts";

/** A session as the edge routes keep one, recording what the clock said. */
function session(fields: Partial<Omit<ClockedSession, "due">> = {}): ClockedSession & { readonly calls: SessionDue[] } {
  const calls: SessionDue[] = [];
  return { lastFrameAt: 0, intervalSeconds: 5, helloDeadline: undefined, expiresAt: undefined, ...fields, calls, due: (reason) => calls.push(reason) };
}

describe("SessionClock", () => {
  it("ends a session silent for three check-in intervals plus 10 s, once, and no sooner", () => {
    const clock = new SessionClock();
    const silent = session({ lastFrameAt: 1_000, intervalSeconds: 5 });
    const unwatch = clock.watch(silent);
    clock.sweep(1_000 + 25_000);
    expect(silent.calls).toEqual([]); // precondition: exactly three intervals + 10 s is not yet silence
    expect(clock.size).toBe(1);
    clock.sweep(1_000 + 25_001);
    expect(silent.calls).toEqual(["silence"]);
    expect(clock.size).toBe(0);
    clock.sweep(1_000 + 60_000);
    expect(silent.calls).toEqual(["silence"]);
    unwatch();
  });

  it("keeps a session that sends heartbeats, and follows a changed interval", () => {
    const clock = new SessionClock();
    const alive = session({ lastFrameAt: 0, intervalSeconds: 5 });
    clock.watch(alive);
    for (let now = 5_000; now <= 120_000; now += 5_000) {
      alive.lastFrameAt = now;
      clock.sweep(now + 1_000);
    }
    expect(alive.calls).toEqual([]);
    alive.intervalSeconds = 60; // a status frame with a longer interval
    clock.sweep(120_000 + 3 * 60_000);
    expect(alive.calls).toEqual([]);
    clock.sweep(120_000 + 3 * 60_000 + 10_001);
    expect(alive.calls).toEqual(["silence"]);
  });

  it("ends a session whose hello does not arrive by its deadline, and not one whose hello did", () => {
    const clock = new SessionClock();
    const mute = session({ lastFrameAt: 0, helloDeadline: 10_000 });
    const greeted = session({ lastFrameAt: 0, helloDeadline: 10_000 });
    clock.watch(mute);
    clock.watch(greeted);
    clock.sweep(9_999);
    expect([mute.calls, greeted.calls]).toEqual([[], []]);
    greeted.helloDeadline = undefined; // the hello arrived
    greeted.lastFrameAt = 9_999;
    clock.sweep(10_000);
    expect(mute.calls).toEqual(["hello"]);
    expect(greeted.calls).toEqual([]);
  });

  it("ends a session when the certificate it was opened with expires", () => {
    const clock = new SessionClock();
    const certified = session({ lastFrameAt: 0, expiresAt: 3_000 });
    clock.watch(certified);
    certified.lastFrameAt = 2_999;
    clock.sweep(2_999);
    expect(certified.calls).toEqual([]);
    clock.sweep(3_000);
    expect(certified.calls).toEqual(["expired"]);
  });

  it("sweeps on its own timer while it watches sessions, and stops when none is left", async () => {
    const clock = new SessionClock({ tickMs: 10 });
    const sessions = Array.from({ length: 1_000 }, () => session({ lastFrameAt: Date.now(), helloDeadline: Date.now() + 30 }));
    const unwatch = sessions.map((watched) => clock.watch(watched));
    expect(clock.size).toBe(1_000);
    unwatch[0]?.(); // the first stream closed before its deadline
    const deadline = Date.now() + 5_000;
    while (clock.size > 0 && Date.now() < deadline) await sleep(10);
    expect(sessions[0]?.calls).toEqual([]);
    expect(sessions.slice(1).every((watched) => watched.calls.length === 1 && watched.calls[0] === "hello")).toBe(true);
    expect(clock.size).toBe(0);
  });
});
