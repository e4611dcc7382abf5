/** Ways the command line fails before or around the real work. */
export type CliErrorCode = "usage" | "input" | "failed";

/**
 * The CLI's error type: `usage` for a malformed command line (exit 2), `input` for a file
 * that cannot be read, `failed` for an operation that did not succeed (both exit 1).
 */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Exit statuses, in one place: 0 success, 1 failure or problems found, 2 usage. */
export const exitCodes = { ok: 0, problems: 1, failed: 1, usage: 2 } as const;
