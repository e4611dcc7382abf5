import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EdgeFixture, startEdgeFixture } from "./edge-fixture.testkit.ts";

const until = async (what: string, check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe("edge session lines: each session at debug, a count at info", () => {
  let fixture: EdgeFixture;
  beforeAll(async () => {
    fixture = await startEdgeFixture({ sessionSummaryMs: 1_000 });
  });
  afterAll(() => fixture[Symbol.asyncDispose]());

  it("logs a session's open and close at debug only, and once a period how many opened and closed at info", async () => {
    const first = await fixture.agent("tally-1");
    await using second = await fixture.agent("tally-2");
    await first.close();
    const id = first.welcome.environmentId;
    await until("the close line", () => fixture.logs.includes(`debug: edge session closed: environment ${id}`));
    // Precondition: the per-session lines exist, at debug; none of them at info.
    expect(fixture.logs).toContainEqual(expect.stringMatching(new RegExp(`^debug: edge session open: environment ${id} \\(tally-1\\) from 127\\.0\\.0\\.1, associated$`)));
    expect(fixture.logs).toContainEqual(expect.stringMatching(new RegExp(`^debug: edge session open: environment ${second.welcome.environmentId} \\(tally-2\\)`)));
    expect(fixture.logs.filter((line) => /^info: edge session (open|closed)/.test(line))).toEqual([]);

    // One summary a period (a slow machine may split the three events over two periods).
    const summaries = () => fixture.logs.filter((line) => line.startsWith("info: edge sessions:"));
    const counted = (what: "opened" | "closed") => summaries().reduce((sum, line) => sum + Number(new RegExp(`(\\d+) ${what}`).exec(line)?.[1] ?? 0), 0);
    await until("the summaries", () => counted("opened") === 2 && counted("closed") === 1);
    expect(summaries().at(-1)).toMatch(/^info: edge sessions: 1 open; in the last 1 s \d+ opened, \d+ closed$/);
    expect(summaries().length).toBeLessThanOrEqual(2);
    // A quiet period says nothing.
    const said = summaries().length;
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(summaries()).toHaveLength(said);
  });
});
