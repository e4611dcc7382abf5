import { describe, expect, it } from "vitest";
import { Hono } from "hono";
import { createServerLog, type LogFormat } from "./server-log.ts";
import { maxRequestIdLength, requestIds } from "./request-id.ts";
import { requestLog } from "./request-log.ts";

const at = () => new Date("2026-12-07T17:00:00.000Z");

function capture(format: LogFormat, level: "debug" | "info" = "info") {
  const lines: string[] = [];
  return { lines, log: createServerLog({ format, level, replica: "pier-a", write: (line) => lines.push(line), now: at }) };
}

/** An app as the API is built: request ids first, an error handler that logs as app.ts does. */
function app(log: ReturnType<typeof createServerLog>) {
  const hono = new Hono();
  hono.use("*", requestIds());
  hono.use("*", requestLog(log));
  hono.get("/ok", (c) => c.text("ok"));
  hono.get("/boom", () => {
    throw new Error("disk on fire");
  });
  hono.onError((error, c) => {
    log("error", `API ${c.req.method} ${c.req.path} failed: ${error.message}`);
    return c.json({ code: "internal" }, 500);
  });
  return hono;
}

describe("server log lines", () => {
  it("text: time, level and message, as before", () => {
    const { lines, log } = capture("text");
    log("warn", "disk almost full");
    log("debug", "dropped below info");
    expect(lines).toEqual(["2026-12-07T17:00:00.000Z WARN  disk almost full\n"]);
  });

  it("json: one object per line with time, level, msg and replica, a multi-line message included", () => {
    const { lines, log } = capture("json");
    log("error", "failed:\n    at stack frame");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith("\n")).toBe(true);
    expect(lines[0]?.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(lines[0] ?? "")).toEqual({ time: "2026-12-07T17:00:00.000Z", level: "error", msg: "failed:\n    at stack frame", replica: "pier-a" });
  });
});

describe("request ids", () => {
  it("answers a new id in X-Request-Id and carries it on the request's error line", async () => {
    const { lines, log } = capture("json");
    const response = await app(log).request("/boom");
    expect(response.status).toBe(500);
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const error = lines.map((line) => JSON.parse(line) as { level: string; msg: string; requestId?: string }).find((line) => line.level === "error");
    expect(error).toMatchObject({ msg: "API GET /boom failed: disk on fire", requestId: id });
  });

  it("keeps a sane incoming id, in text lines too", async () => {
    const { lines, log } = capture("text", "debug");
    const response = await app(log).request("/ok", { headers: { "x-request-id": "lb-42.a_B" } });
    expect(response.headers.get("x-request-id")).toBe("lb-42.a_B");
    expect(lines).toEqual([expect.stringMatching(/ DEBUG API GET \/ok 200 \(\d+ ms\) \(request lb-42\.a_B\)\n$/)]);
  });

  it("replaces an over-long or odd incoming id instead of echoing it", async () => {
    const { lines, log } = capture("json", "debug");
    const tooLong = "a".repeat(maxRequestIdLength + 1);
    for (const incoming of [tooLong, "has space", "quote\"", "new\u00e9"]) {
      const response = await app(log).request("/ok", { headers: { "x-request-id": incoming } });
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(lines.join("")).not.toContain(tooLong);
    const longest = "b".repeat(maxRequestIdLength);
    expect((await app(log).request("/ok", { headers: { "x-request-id": longest } })).headers.get("x-request-id")).toBe(longest);
  });

  it("outside a request, lines carry no id", () => {
    const { lines, log } = capture("json");
    log("info", "started");
    expect(JSON.parse(lines[0] ?? "")).not.toHaveProperty("requestId");
  });
});
