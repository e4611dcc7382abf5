import { connect, createServer, type AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { backoff, backoffDelay, lostLink, nextDial } from "./backoff.ts";
import { AgentError } from "./errors.ts";

describe("reconnect backoff", () => {
  it("doubles from 1 s up to a 60 s ceiling, half of each delay random", () => {
    expect(backoffDelay(0, () => 0)).toBe(500);
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 0)).toBe(4000);
    expect(backoffDelay(3, () => 1)).toBe(8000);
    expect(backoffDelay(10, () => 1)).toBe(backoff.capMs);
    expect(backoffDelay(1000, () => 0.5)).toBe(backoff.capMs * 0.75);
  });

  it("spreads a fleet's reconnects instead of synchronising them", () => {
    const delays = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(4))));
    expect(delays.size).toBeGreaterThan(40);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(8000);
  });
});

describe("the wait before the next dial (nextDial)", () => {
  const half = () => 0.5;

  it("without a hint: the backoff of this attempt, and the attempt advances", () => {
    expect(nextDial(2, {}, half)).toEqual({ delayMs: backoffDelay(2, half), attempt: 3 });
    expect(nextDial(0, { code: "connect_failed" }, () => 0)).toEqual({ delayMs: 500, attempt: 1 });
  });

  it("a busy server's hint: at least the hint, at least the backoff, never past the 60 s cap", () => {
    // Before: a refused frame's retryAfterSeconds was not read, the agent redialled after 0.5–1 s.
    expect(nextDial(0, { code: "unavailable", retryAfterMs: 7_000 }, half)).toEqual({ delayMs: 7_000, attempt: 1 });
    expect(nextDial(5, { code: "unavailable", retryAfterMs: 2_000 }, half)).toEqual({ delayMs: backoffDelay(5, half), attempt: 6 });
    expect(nextDial(0, { code: "unavailable", retryAfterMs: 3_600_000 }, half)).toEqual({ delayMs: backoff.capMs, attempt: 1 });
  });

  it("restarting: exactly the hint (at most 60 s), and the backoff does not advance", () => {
    expect(nextDial(4, { code: "restarting", retryAfterMs: 3_000 }, half)).toEqual({ delayMs: 3_000, attempt: 4 });
    expect(nextDial(0, { code: "restarting", retryAfterMs: 1_000 }, half)).toEqual({ delayMs: 1_000, attempt: 0 });
    expect(nextDial(0, { code: "restarting", retryAfterMs: 600_000 }, half)).toEqual({ delayMs: backoff.capMs, attempt: 0 });
    // Without a hint (an older server): the backoff, still not advanced.
    expect(nextDial(3, { code: "restarting" }, half)).toEqual({ delayMs: backoffDelay(3, half), attempt: 3 });
  });

  it("an enrollment limit's hint keeps its 1 h bound", () => {
    expect(nextDial(0, { code: "too_many_requests", retryAfterMs: 600_000 }, half)).toEqual({ delayMs: 600_000, attempt: 1 });
    expect(nextDial(0, { code: "too_many_requests", retryAfterMs: 7_200_000 }, half)).toEqual({ delayMs: 3_600_000, attempt: 1 });
  });
});

describe("a dial that never reached the server (chaos suite, partition)", () => {
  const high = () => 0.99;

  it("waits at most one check-in interval, half of it random, and the backoff still advances", () => {
    // Before: attempt 5 of a 30 s partition waited 16–32 s, the device green again up to 30 s after the link.
    expect(nextDial(5, { code: "connect_failed", unreached: true }, high, 1_000)).toEqual({ delayMs: 995, attempt: 6 });
    expect(nextDial(5, { code: "server_silent", unreached: true }, () => 0, 5_000)).toEqual({ delayMs: 2_500, attempt: 6 });
    // A backoff shorter than the interval stays as it is; an hour-long interval keeps the 60 s ceiling.
    expect(nextDial(0, { unreached: true }, () => 0, 5_000)).toEqual({ delayMs: 500, attempt: 1 });
    expect(nextDial(10, { unreached: true }, high, 3_600_000).delayMs).toBeLessThanOrEqual(backoff.capMs);
    // A server's hint is an answer: the full backoff, as before.
    expect(nextDial(5, { code: "unavailable", retryAfterMs: 2_000, unreached: true }, high, 1_000).delayMs).toBeGreaterThan(16_000);
  });

  it("tells a lost link from the server's answers", async () => {
    const errno = (code: string, syscall = "connect") => Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
    for (const code of ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EAI_AGAIN"]) expect(lostLink(errno(code))).toBe(true);
    expect(lostLink(errno("ETIMEDOUT"))).toBe(true);
    expect(lostLink(new AgentError("connect_failed", "wrapped", { cause: errno("EHOSTUNREACH") }))).toBe(true);
    // The handshake timer, a reset, a TLS alert, a refusal: the server was reached.
    expect(lostLink(Object.assign(new Error("TLS handshake timed out"), { code: "ETIMEDOUT" }))).toBe(false);
    expect(lostLink(errno("ECONNRESET", "read"))).toBe(false);
    expect(lostLink(new AgentError("refused", "The server ended the session: busy"))).toBe(false);
    expect(lostLink(undefined)).toBe(false);
    // A real dial to a port nobody listens on, as the agent reports it.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await new Promise<Error>((resolve) => connect(port, "127.0.0.1").once("error", resolve));
    expect(lostLink(new AgentError("connect_failed", "cannot connect", { cause: refused }))).toBe(true);
  });
});
