import { describe, expect, it } from "vitest";
import { ServerError } from "./errors.ts";

describe("ServerError", () => {
  it("records a stack for failures of the server only, and leaves the process's limit as it was", () => {
    const limit = Error.stackTraceLimit;
    const answer = new ServerError("not_found", "Environment 7 does not exist.");
    const failure = new ServerError("internal", "The audit trail could not be written.");
    expect(answer.stack).toBe("ServerError: Environment 7 does not exist.");
    expect(failure.stack).toMatch(/^ServerError: The audit trail could not be written\.\n\s+at /);
    expect(new ServerError("store_failed", "x").stack).toContain("\n    at ");
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error("plain").stack).toContain("\n    at ");
  });

  it("keeps the code, status, field, fix and cause whatever its stack", () => {
    const cause = new Error("disk full");
    const error = new ServerError("conflict", "Name taken.", { field: "Name", fix: "Pick another.", cause });
    expect([error.code, error.status, error.field, error.fix, error.cause]).toEqual(["conflict", 409, "Name", "Pick another.", cause]);
    expect(error).toBeInstanceOf(Error);
  });
});
