import { describe, expect, it } from "vitest";
import { logFileName, runOutcome, waitingForLogs } from "./job-results.ts";

describe("a job run's outcome", () => {
  it("says succeeded for exit 0 and names a failing exit code, with the duration", () => {
    expect(runOutcome({ StartedAt: 1_000, FinishedAt: 4_000, ExitCode: 0 })).toMatchObject({ label: "Succeeded", color: "green", seconds: 3 });
    expect(runOutcome({ StartedAt: 1_000, FinishedAt: 2_000, ExitCode: 127 })).toMatchObject({ label: "Exit code 127", color: "red", seconds: 1 });
  });

  it("tells a run that could not start (an error, no exit code) from one never run", () => {
    expect(runOutcome({ StartedAt: 1_000, FinishedAt: 1_000, Error: "no such image" })).toMatchObject({ label: "Did not run", color: "red" });
    expect(runOutcome(undefined)).toMatchObject({ label: "Not run yet", seconds: undefined });
  });

  it("reads ISO times as well as milliseconds", () => {
    expect(runOutcome({ StartedAt: "2026-01-01T00:00:00Z", FinishedAt: "2026-01-01T00:01:00Z", ExitCode: 0 }).seconds).toBe(60);
  });
});

describe("job logs", () => {
  it("waits while any task's logs are requested", () => {
    expect(waitingForLogs([{ LogsStatus: 1 }, { LogsStatus: 2 }])).toBe(true);
    expect(waitingForLogs([{ LogsStatus: 3 }])).toBe(false);
  });

  it("downloads under a file name made of safe characters", () => {
    expect(logFileName("nightly backup", "berlin/01")).toBe("nightly-backup-berlin-01.log");
  });
});
