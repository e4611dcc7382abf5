import type { Logger, LogLevel } from "../logger.ts";

/** A logger that keeps its lines, for assertions. */
export interface RecordingLogger extends Logger {
  readonly lines: { level: LogLevel; message: string }[];
  /** Messages logged at `level`. */
  at(level: LogLevel): string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: { level: LogLevel; message: string }[] = [];
  return {
    lines,
    log: (level, message) => lines.push({ level, message }),
    at: (level) => lines.filter((line) => line.level === level).map((line) => line.message),
  };
}
