import fc from "fast-check";
import { agentMessageSchema } from "@pier/protocol";
import { FrameDecoder, ProtocolError, type Validator, maxFrameBytes, serverMessageValidator } from "@pier/protocol/wire";
import { type FuzzTarget, type Verdict, describeError, ok, timed } from "../harness.ts";

/** Accepts any JSON object: the framing itself is under test, not a schema. */
const anyObject: Validator<Record<string, unknown>> = {
  safeParse: (value) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? { success: true, data: value as Record<string, unknown> }
      : { success: false, error: { issues: [{ path: [], message: "expected an object" }] } },
};

type Case =
  | { kind: "valid"; frames: Record<string, unknown>[]; cuts: number[]; asText: boolean }
  | { kind: "sized"; bytes: number; cuts: number[]; wide: boolean }
  | { kind: "garbage"; data: Uint8Array; cuts: number[]; schema: "agent" | "server" | "object" };

const utf8 = new TextEncoder();

function chunks<T extends { length: number; slice(a: number, b?: number): T }>(whole: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((c) => (whole.length === 0 ? 0 : c % whole.length)))].sort((a, b) => a - b);
  const out: T[] = [];
  let start = 0;
  for (const point of points) {
    out.push(whole.slice(start, point));
    start = point;
  }
  out.push(whole.slice(start));
  return out;
}

/** A frame whose line (without the newline) is exactly `bytes` UTF-8 bytes; `wide` uses 3-byte characters. */
function sizedFrame(bytes: number, wide: boolean): string {
  const overhead = '{"p":""}'.length;
  const room = bytes - overhead;
  const filler = wide ? "€".repeat(Math.floor(room / 3)) + "x".repeat(room % 3) : "x".repeat(room);
  return `{"p":"${filler}"}`;
}

function run(decoder: FrameDecoder<unknown>, pieces: ReadonlyArray<string | Uint8Array>): { frames: unknown[]; error?: unknown } {
  const frames: unknown[] = [];
  try {
    for (const piece of pieces) frames.push(...decoder.push(piece));
  } catch (error) {
    return { frames, error };
  }
  return { frames };
}

function check(input: Case): Verdict {
  switch (input.kind) {
    case "valid": {
      const text = input.frames.map((f) => `${JSON.stringify(f)}\n`).join("");
      const pieces = input.asText ? chunks(text, input.cuts) : chunks(utf8.encode(text), input.cuts);
      const result = run(new FrameDecoder(anyObject), pieces);
      if (result.error) return { kind: result.error instanceof ProtocolError ? "mismatch" : "crash", detail: `valid frames refused: ${describeError(result.error)}` };
      return JSON.stringify(result.frames) === JSON.stringify(input.frames) ? ok : { kind: "mismatch", detail: "chunked frames decode differently from the frames sent" };
    }
    case "sized": {
      const line = sizedFrame(input.bytes, input.wide);
      const size = utf8.encode(line).length;
      const result = run(new FrameDecoder(anyObject), chunks(utf8.encode(`${line}\n`), input.cuts));
      if (result.error && !(result.error instanceof ProtocolError)) return { kind: "crash", detail: describeError(result.error) };
      if (size > maxFrameBytes && !result.error) return { kind: "mismatch", detail: `a ${size}-byte frame was accepted (limit ${maxFrameBytes})` };
      if (size <= maxFrameBytes && result.error) return { kind: "mismatch", detail: `a ${size}-byte frame was refused (limit ${maxFrameBytes}): ${describeError(result.error)}` };
      return ok;
    }
    case "garbage": {
      const schema = input.schema === "agent" ? agentMessageSchema : input.schema === "server" ? serverMessageValidator : anyObject;
      const result = run(new FrameDecoder<unknown>(schema), chunks(input.data, input.cuts));
      if (result.error && !(result.error instanceof ProtocolError)) return { kind: "crash", detail: `push threw ${describeError(result.error)}` };
      return ok;
    }
  }
}

const jsonObject = fc.dictionary(fc.string({ unit: "binary", maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) as fc.Arbitrary<Record<string, unknown>>;
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const frameLines = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.array(fc.oneof(fc.json(), fc.string({ unit: "binary", maxLength: 80 }), fc.constantFrom('{"type":"hello"}', '{"type":"heartbeat","at":1}', "{}", "[]", "null", '"\\ud800"', "{".repeat(2000))), { maxLength: 6 }).map((lines) => utf8.encode(lines.join("\n") + "\n")),
);

/**
 * The NDJSON frame decoder: valid frames cut into arbitrary chunks (bytes split inside
 * multi-byte characters, or text) decode to the same frames; frames around the 64 KiB limit
 * are refused exactly when over it, however they are cut; garbage only raises ProtocolError.
 */
export const framingTarget: FuzzTarget = {
  name: "framing",
  defaultRuns: 100_000,
  prepare() {
    return Promise.resolve({
      arbitrary: fc.oneof(
        { weight: 6, arbitrary: fc.record({ kind: fc.constant("valid" as const), frames: fc.array(jsonObject, { maxLength: 5 }), cuts, asText: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("sized" as const), bytes: fc.integer({ min: maxFrameBytes - 4, max: maxFrameBytes + 4 }), cuts, wide: fc.boolean() }) },
        { weight: 5, arbitrary: fc.record({ kind: fc.constant("garbage" as const), data: frameLines, cuts, schema: fc.constantFrom("agent" as const, "server" as const, "object" as const) }) },
      ),
      check: (input: Case) => timed(() => check(input)),
      notes: () => [`properties: chunking invariance, ${maxFrameBytes}-byte limit (±4 bytes, 1- and 3-byte characters), only ProtocolError on garbage (agent zod schema, agent-side server validator)`],
      show: (input: Case) => JSON.stringify(input, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)).slice(0, 4000),
    });
  },
};
