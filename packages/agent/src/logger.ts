/** Log levels, most verbose first. */
export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];

/** The agent's single status sink: one line per event, never a secret. */
export interface Logger {
  log(level: LogLevel, message: string): void;
}

/** Writes `TIMESTAMP LEVEL message` lines to a stream, dropping levels below `minimum`. */
export function streamLogger(stream: NodeJS.WritableStream, minimum: LogLevel = "info"): Logger {
  const threshold = logLevels.indexOf(minimum);
  return {
    log(level, message) {
      if (logLevels.indexOf(level) < threshold) return;
      stream.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`);
    },
  };
}
