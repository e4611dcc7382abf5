import { ProtocolError } from "./errors.ts";
import type { AgentMessage, ServerMessage } from "./messages.ts";

/**
 * What validates a decoded frame: a zod schema (the server's side), or one of the zod-free
 * validators of server-frames.ts (the agent's side, where zod's memory counts).
 */
export interface Validator<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Frames are single-line JSON objects; a line longer than this is refused. */
export const maxFrameBytes = 64 * 1024;

const encoder = new TextEncoder();

/** True when `text` is longer than `maxFrameBytes` in UTF-8 (encoded only when it could be). */
function overLimit(text: string): boolean {
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes.
  if (text.length > maxFrameBytes) return true;
  if (text.length * 3 <= maxFrameBytes) return false;
  return encoder.encode(text).length > maxFrameBytes;
}

/** One NDJSON frame. */
export function encodeFrame(message: AgentMessage | ServerMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a byte stream into frames and validates each with `schema`.
 *
 * @example
 * const decoder = new FrameDecoder(serverMessageSchema);
 * stream.on("data", (chunk) => decoder.push(chunk).forEach(handle));
 */
export class FrameDecoder<T> {
  readonly #schema: Validator<T>;
  // One streaming decoder: a multi-byte character split across chunks stays whole.
  readonly #text = new TextDecoder();
  #buffer = "";

  constructor(schema: Validator<T>) {
    this.#schema = schema;
  }

  /** Adds bytes; returns the complete frames they finish. Throws `message_malformed`. */
  push(chunk: string | Uint8Array): T[] {
    this.#buffer += typeof chunk === "string" ? chunk : this.#text.decode(chunk, { stream: true });
    const out: T[] = [];
    for (let newline = this.#buffer.indexOf("\n"); newline >= 0; newline = this.#buffer.indexOf("\n")) {
      const raw = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      // Checked per line too: a whole oversized frame can arrive in one chunk (found by fuzzing).
      if (overLimit(raw)) throw tooLarge();
      const line = raw.trim();
      if (line !== "") out.push(parseMessage(this.#schema, line));
    }
    if (overLimit(this.#buffer)) throw tooLarge();
    return out;
  }
}

function tooLarge(): ProtocolError {
  return new ProtocolError("message_malformed", `A frame exceeds ${maxFrameBytes} bytes; frames are single JSON lines of at most ${maxFrameBytes} bytes.`);
}

/**
 * Parses and validates one JSON document, naming the first invalid field. `noun` names the
 * document in messages ("The snapshot is not valid JSON.").
 */
export function parseMessage<T>(schema: Validator<T>, text: string, noun = "message"): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError("message_malformed", `The ${noun} is not valid JSON.`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ProtocolError("message_malformed", `Invalid ${noun}: ${issue?.path.map(String).join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}
