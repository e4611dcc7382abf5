/** Whether a file write failed because the disk is full: ENOSPC, or EDQUOT (a quota). */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/**
 * One sentence for the log about a write to `dir` that failed: for a full disk it names the
 * disk and says what to do (the agent tries again by itself), else it gives the system's reason.
 *
 * @example
 * log.log("error", `certificate renewal could not start: ${writeFailure("the new key (next.key)", store.dir, error)}`);
 * // "… the disk holding /data/identity is full (ENOSPC): the new key (next.key) was not written. Free space there …"
 */
export function writeFailure(what: string, dir: string, error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (isDiskFull(error)) {
    return `the disk holding ${dir} is full (${String(code)}): ${what} was not written. Free space on that disk (df -h ${dir}); the agent tries again by itself, and the files already there are untouched.`;
  }
  return `${what} could not be written in ${dir}: ${error instanceof Error ? error.message : String(error)}.`;
}
