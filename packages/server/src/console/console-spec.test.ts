import { describe, expect, it } from "vitest";
import { ServerError } from "../errors.ts";
import { consoleLimits, parseConsoleSpec } from "./console-spec.ts";
import { ConsoleTickets } from "./console-tickets.ts";

function refusal(input: Parameters<typeof parseConsoleSpec>[0]): string {
  try {
    parseConsoleSpec(input);
  } catch (error) {
    return error instanceof ServerError ? `${error.code} ${error.field}: ${error.message}` : String(error);
  }
  return "accepted";
}

describe("parseConsoleSpec", () => {
  it("takes a container, an absolute shell path and an optional user", () => {
    expect(parseConsoleSpec({ container: "web-1", shell: "/bin/bash", user: "1000:1000" })).toEqual({ container: "web-1", shell: "/bin/bash", user: "1000:1000" });
    expect(parseConsoleSpec({ container: "a".repeat(64) })).toEqual({ container: "a".repeat(64), shell: "/bin/sh", user: "" });
  });

  it("refuses shell characters, relative paths and odd users, naming the field", () => {
    expect(refusal({ container: "web", shell: "/bin/sh;id" })).toBe('bad_request shell: shell "/bin/sh;id" is not an absolute path such as /bin/sh, without spaces, quotes or shell characters.');
    expect(refusal({ container: "web", shell: "sh" })).toMatch(/^bad_request shell: /);
    expect(refusal({ container: "web", shell: "/bin/sh -c id" })).toMatch(/^bad_request shell: /);
    expect(refusal({ container: "web", user: "root; id" })).toMatch(/^bad_request user: /);
    expect(refusal({ container: "../etc" })).toMatch(/^bad_request container: /);
    expect(refusal({ container: 7 })).toBe("bad_request container: container must be a string.");
  });

  it("refuses each field one character past its limit", () => {
    expect(refusal({ container: "c".repeat(consoleLimits.container + 1) })).toBe(`bad_request container: container is ${consoleLimits.container + 1} characters; at most ${consoleLimits.container} are allowed.`);
    expect(refusal({ container: "web", shell: `/${"s".repeat(consoleLimits.shell)}` })).toMatch(/^bad_request shell: shell is \d+ characters; at most/);
    expect(refusal({ container: "web", user: "u".repeat(consoleLimits.user + 1) })).toMatch(/^bad_request user: user is \d+ characters; at most/);
  });
});

describe("ConsoleTickets", () => {
  const grant = { userId: 1, environmentId: 2, spec: { container: "web", shell: "/bin/sh", user: "" }, execId: "e1" };

  it("hands a grant out once, and never after it expired", () => {
    let now = 1_000;
    const tickets = new ConsoleTickets({ ttlMs: 30_000, perUser: 8, now: () => now });
    const { ticket } = tickets.issue(grant);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tickets.take(ticket)).toEqual(grant);
    expect(tickets.take(ticket)).toBeUndefined();
    const late = tickets.issue(grant).ticket;
    now += 30_000;
    expect(tickets.take(late)).toBeUndefined();
    expect(tickets.take("not a ticket")).toBeUndefined();
  });

  it("refuses a user past the unused tickets allowed, and frees them as they expire", () => {
    let now = 0;
    const tickets = new ConsoleTickets({ ttlMs: 1_000, perUser: 2, now: () => now });
    tickets.issue(grant);
    tickets.issue(grant);
    expect(() => tickets.issue(grant)).toThrow(/You hold 2 unused console tickets/);
    expect(tickets.issue({ ...grant, userId: 9 }).ticket).toBeTruthy();
    now = 1_000;
    expect(tickets.issue(grant).ticket).toBeTruthy();
  });
});
