import { currentRequestId } from "./request-id.ts";

/** Log levels, least severe first. */
export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];

/** How log lines are written: `text` for people (the default), `json` for log collectors. */
export const logFormats = ["text", "json"] as const;
export type LogFormat = (typeof logFormats)[number];

/** Options of `createServerLog`. */
export interface ServerLogOptions {
  readonly format: LogFormat;
  /** Lines below it are dropped. */
  readonly level: LogLevel;
  /** This replica's name (`--replica-name` or the host name), in every JSON line. */
  readonly replica: string;
  /** Where each line goes, newline included (default: standard error). */
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
}

/**
 * The server's `log(level, message)`: one line per call. `text`: `2026-12-07T17:00:00.000Z INFO
 * message`, with `(request <id>)` at the end inside an API request; `json`: one object per line,
 * `{"time", "level", "msg", "replica", "requestId"?}` (pino's field names, `time` in ISO 8601).
 *
 * @example
 * const log = createServerLog({ format: "json", level: "info", replica: "pier-1" });
 * log("warn", "disk almost full"); // {"time":"…","level":"warn","msg":"disk almost full","replica":"pier-1"}
 */
export function createServerLog(options: ServerLogOptions): (level: LogLevel, message: string) => void {
  const threshold = logLevels.indexOf(options.level);
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  return (level, message) => {
    if (logLevels.indexOf(level) < threshold) return;
    const requestId = currentRequestId();
    const time = now().toISOString();
    if (options.format === "json") {
      write(`${JSON.stringify({ time, level, msg: message, replica: options.replica, ...(requestId === undefined ? {} : { requestId }) })}\n`);
    } else {
      write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${requestId === undefined ? "" : ` (request ${requestId})`}\n`);
    }
  };
}
