/** Where commands print: stdout for results, stderr for diagnostics. Swappable in tests. */
export interface Output {
  line(text: string): void;
  error(text: string): void;
  /** Prints a usage text and returns exit status 0. */
  help(text: string): number;
}

/** Output to the process's streams. */
export const processOutput: Output = {
  line: (text) => void process.stdout.write(`${text}\n`),
  error: (text) => void process.stderr.write(`${text}\n`),
  help: (text) => {
    process.stdout.write(`${text}\n`);
    return 0;
  },
};
