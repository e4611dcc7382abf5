import { describe, expect, it } from "vitest";
import { FrameDecoder } from "./framing.ts";
import { serverMessageSchema, welcomeSchema } from "./messages.ts";
import { isTunnelId, serverMessageValidator, welcomeValidator } from "./server-frames.ts";

const valid = [
  { type: "welcome", environmentId: 3, status: "waiting", checkinIntervalSeconds: 5 },
  { type: "welcome", environmentId: 3, status: "associated", checkinIntervalSeconds: 0.5, deviceToken: "t".repeat(128) },
  { type: "status", status: "associated", checkinIntervalSeconds: 60 },
  { type: "ack", seq: 0 },
  { type: "ack", seq: 9007199254740991 },
  { type: "tunnel", id: "abcdEFGH_-12" },
  { type: "tunnel", id: "a".repeat(64) },
  { type: "refused", code: "removed", message: "" },
  { type: "welcome", environmentId: 4, status: "associated", checkinIntervalSeconds: 5, certificate: { certificate: "C", chain: "A", trustBundle: "T" } },
  { type: "certificate", grant: { certificate: "c".repeat(16 * 1024), chain: "a", trustBundle: "t".repeat(64 * 1024) } },
  { type: "renew", reason: "rotation", withinSeconds: 600, trustBundle: "T" },
  { type: "renew", reason: "requested", withinSeconds: 0 },
  { type: "welcome", environmentId: 5, status: "associated", checkinIntervalSeconds: 5, desiredStateVersion: "0123456789abcdef".repeat(4) },
  { type: "status", status: "associated", checkinIntervalSeconds: 5, desiredStateVersion: "f".repeat(64) },
  { type: "refused", code: "unavailable", message: "busy", retryAfterSeconds: 1 },
  { type: "refused", code: "restarting", message: "restarting", retryAfterSeconds: 3600 },
  // The server's clock (docs/identity.md "Clock skew"): up to JavaScript's last date.
  { type: "welcome", environmentId: 6, status: "associated", checkinIntervalSeconds: 5, time: 1_796_000_000_000 },
  { type: "ack", seq: 3, time: 0 },
  { type: "ack", seq: 4, time: 8_640_000_000_000_000 },
] as const;

// Each frame above broken one way at a time, plus things that are no frame at all.
const broken: unknown[] = [
  null,
  [],
  "welcome",
  42,
  {},
  { type: "hello" },
  { type: "toString" },
  { type: 1 },
  ...valid.flatMap((frame) => Object.keys(frame).filter((key) => !["type", "deviceToken", "certificate", "trustBundle", "desiredStateVersion", "retryAfterSeconds", "time"].includes(key)).map((key) => Object.fromEntries(Object.entries(frame).filter(([k]) => k !== key)))),
  ...[0, -1, 1.5, "3", Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53].map((environmentId) => ({ ...valid[0], environmentId })),
  ...[0, -5, "5", null, Number.POSITIVE_INFINITY].map((checkinIntervalSeconds) => ({ ...valid[2], checkinIntervalSeconds })),
  ...["Waiting", "removed", "", 1].map((status) => ({ ...valid[2], status })),
  { ...valid[1], deviceToken: "t".repeat(129) },
  { ...valid[1], deviceToken: null },
  ...[-1, 0.5, "1", 2 ** 53].map((seq) => ({ type: "ack", seq })),
  ...["a".repeat(7), "a".repeat(65), "abcdefgh/", "abcd efgh", 12345678].map((id) => ({ type: "tunnel", id })),
  { type: "refused", code: 1, message: "m" },
  ...[0, -1, 1.5, 3601, "5", null, Number.NaN].map((retryAfterSeconds) => ({ type: "refused", code: "unavailable", message: "m", retryAfterSeconds })),
  { type: "certificate", grant: { certificate: "c".repeat(16 * 1024 + 1), chain: "a", trustBundle: "t" } },
  { type: "certificate", grant: { certificate: "", chain: "a", trustBundle: "t" } },
  { type: "certificate", grant: "pem" },
  { ...valid[8], certificate: { certificate: "C", chain: "A" } },
  ...[-1, 1.5, 86_401, "5"].map((withinSeconds) => ({ type: "renew", reason: "rotation", withinSeconds })),
  { type: "renew", reason: "whim", withinSeconds: 5 },
  { type: "renew", reason: "rotation", withinSeconds: 5, trustBundle: "" },
  ...["F".repeat(64), "f".repeat(63), "f".repeat(65), "g".repeat(64), "", 5, null].flatMap((desiredStateVersion) => [
    { ...valid[12], desiredStateVersion },
    { ...valid[13], desiredStateVersion },
  ]),
  ...[-1, 1.5, "1796000000000", null, Number.NaN, 8_640_000_000_000_001].flatMap((time) => [
    { ...valid[16], time },
    { ...valid[17], time },
  ]),
];

function sameAsZod(value: unknown, ours: { safeParse(v: unknown): { success: boolean; data?: unknown } }, zod: { safeParse(v: unknown): { success: boolean; data?: unknown } }): void {
  const mine = ours.safeParse(value);
  const theirs = zod.safeParse(value);
  expect({ value, success: mine.success, data: mine.data }).toEqual({ value, success: theirs.success, data: theirs.data });
}

describe("zod-free validators of the server's frames", () => {
  it("accept what serverMessageSchema accepts, with the same data, unknown keys stripped", () => {
    for (const frame of valid) {
      sameAsZod(frame, serverMessageValidator, serverMessageSchema);
      sameAsZod({ ...frame, extra: "dropped" }, serverMessageValidator, serverMessageSchema);
    }
    expect(serverMessageValidator.safeParse({ ...valid[3], extra: 1 })).toEqual({ success: true, data: valid[3] });
  });

  it("refuse what serverMessageSchema refuses", () => {
    expect(broken.length).toBeGreaterThan(40);
    for (const value of broken) {
      sameAsZod(value, serverMessageValidator, serverMessageSchema);
      expect(serverMessageValidator.safeParse(value).success).toBe(false);
    }
  });

  it("agree with welcomeSchema on check-in answers", () => {
    for (const value of [...valid, ...broken]) sameAsZod(value, welcomeValidator, welcomeSchema);
  });

  it("name the invalid field in the decoder's error", () => {
    const decoder = new FrameDecoder(serverMessageValidator);
    expect(() => decoder.push(`${JSON.stringify({ ...valid[0], checkinIntervalSeconds: 0 })}\n`)).toThrow(/Invalid message: checkinIntervalSeconds: expected a positive/);
    expect(() => decoder.push(`${JSON.stringify({ type: "nope" })}\n`)).toThrow(/Invalid message: type: expected one of welcome, status, ack, tunnel, refused/);
    expect(() => decoder.push("[]\n")).toThrow(/Invalid message: \(root\): expected an object/);
    expect(decoder.push(`${JSON.stringify(valid[5])}\n`)).toEqual([valid[5]]);
  });

  it("check tunnel ids like tunnelRequestSchema", () => {
    expect(isTunnelId("abcdEFGH_-12")).toBe(true);
    expect(isTunnelId("short")).toBe(false);
    expect(isTunnelId("abcdefgh\n")).toBe(false);
  });
});
