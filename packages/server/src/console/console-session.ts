import type { Duplex } from "node:stream";
import type { RawData, WebSocket } from "ws";
import { errorBody } from "../http/error-response.ts";
import { consoleLimits } from "./console-spec.ts";

/** WebSocket close codes the console uses beside 1000 (normal) and 1009 (message too big). */
export const consoleCloseCodes = { error: 1011, badMessage: 1008, idle: 4408 } as const;

/** What one console session needs: the exec's stream once started, and how to resize it. */
export interface ConsoleSessionOptions {
  readonly socket: WebSocket;
  /** Starts the exec and resolves with its hijacked stream. */
  readonly start: (signal: AbortSignal) => Promise<Duplex>;
  /** Resizes the exec's TTY (`POST /exec/{id}/resize`). */
  readonly resize: (rows: number, cols: number) => Promise<void>;
  /** The exec's exit code once it ended, `null` when unknown. */
  readonly exitCode: () => Promise<number | null>;
  readonly idleMs: number;
  readonly log: (level: "debug" | "error", message: string) => void;
}

/** Messages queued while the exec starts; more closes the socket. */
const maxQueued = 64;
/** Bytes waiting for the browser past which the device's output is paused. */
const highWaterBytes = 1024 * 1024;

function send(socket: WebSocket, message: object): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/** A resize message's size, or `undefined` when the text is not one within the limits. */
function parseResize(text: string): { rows: number; cols: number } | undefined {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { type, rows, cols } = (message ?? {}) as { type?: unknown; rows?: unknown; cols?: unknown };
  const within = (value: unknown, max: number): value is number => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max;
  return type === "resize" && within(rows, consoleLimits.rows) && within(cols, consoleLimits.cols) ? { rows, cols } : undefined;
}

/**
 * Runs one console: pipes the exec's TTY bytes to the browser as binary messages and the
 * browser's binary messages to the exec; a text message `{"type":"resize","rows","cols"}`
 * resizes the TTY (the latest one wins while one is in flight). Ends with a text message
 * `{"type":"exit","exitCode"}` and close 1000 when the shell exits, `{"type":"error",code,message}`
 * and close 1011 on failure, 4408 after `idleMs` with no byte either way. Resolves when done.
 *
 * @example
 * await runConsoleSession({ socket, start, resize, exitCode, idleMs: 900_000, log });
 */
export async function runConsoleSession(options: ConsoleSessionOptions): Promise<void> {
  const { socket } = options;
  const gone = new AbortController();
  const queue: { data: RawData; isBinary: boolean }[] = [];
  let stream: Duplex | undefined;
  let wantedSize: { rows: number; cols: number } | undefined;
  let resizing = false;
  let idle: NodeJS.Timeout | undefined;

  const close = (code: number, message?: object) => {
    if (message) send(socket, message);
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code);
    stream?.destroy();
  };
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => close(consoleCloseCodes.idle, { type: "error", code: "request_timeout", message: `The console was closed after ${Math.round(options.idleMs / 60_000)} min without input or output.` }), options.idleMs);
  };
  const resize = async () => {
    if (resizing || !stream) return;
    resizing = true;
    while (wantedSize) {
      const size = wantedSize;
      wantedSize = undefined;
      try {
        await options.resize(size.rows, size.cols);
      } catch (error) {
        options.log("debug", `console resize to ${size.cols}x${size.rows} failed: ${(error as Error).message}`);
      }
    }
    resizing = false;
  };
  const handle = (data: RawData, isBinary: boolean) => {
    touch();
    if (isBinary) {
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (stream && !stream.write(chunk)) socket.pause();
      return;
    }
    const size = parseResize(Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8"));
    if (!size) {
      close(consoleCloseCodes.badMessage, { type: "error", code: "bad_request", message: `A text message must be {"type":"resize","rows":1..${consoleLimits.rows},"cols":1..${consoleLimits.cols}}; keystrokes go in binary messages.` });
      return;
    }
    wantedSize = size;
    void resize();
  };

  // A message past maxPayload (ws closes with 1009) or a broken frame: never fatal to the server.
  socket.on("error", (error) => options.log("debug", `console WebSocket: ${error.message}`));
  socket.on("message", (data, isBinary) => {
    if (stream) handle(data, isBinary);
    else if (queue.push({ data, isBinary }) > maxQueued) close(consoleCloseCodes.badMessage, { type: "error", code: "too_many_requests", message: "Too many messages before the shell started." });
  });
  const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.once("close", () => {
    clearTimeout(idle);
    gone.abort(new Error("the browser closed the console"));
    stream?.destroy();
  });
  touch();

  try {
    stream = await options.start(gone.signal);
  } catch (error) {
    const { body } = errorBody(error);
    close(consoleCloseCodes.error, { type: "error", ...body });
    await socketClosed;
    return;
  }
  if (gone.signal.aborted) {
    stream.destroy();
    return;
  }
  const started = stream;
  started.on("data", (chunk: Buffer) => {
    touch();
    socket.send(chunk, { binary: true });
    if (socket.bufferedAmount > highWaterBytes) {
      started.pause();
      const drain = setInterval(() => {
        if (socket.bufferedAmount > highWaterBytes / 2 && socket.readyState === socket.OPEN) return;
        clearInterval(drain);
        started.resume();
      }, 20);
    }
  });
  started.on("drain", () => socket.resume());
  started.on("error", () => undefined);
  for (const queued of queue.splice(0)) handle(queued.data, queued.isBinary);
  // The shell's exit ends Docker's side; the tunnel closes after, or first on a failure.
  await new Promise<void>((resolve) => {
    started.once("end", () => resolve());
    started.once("close", () => resolve());
  });
  if (socket.readyState === socket.OPEN) {
    const exitCode = await options.exitCode().catch(() => null);
    close(1000, { type: "exit", exitCode });
  }
  await socketClosed;
}
