/** How a benchmark runs from its command line to its exit code (see `runBenchmark`). */
export interface BenchmarkSpec<Options> {
  /** Names the benchmark in its failure line ("handshake benchmark failed: …"). */
  readonly name: string;
  /** Reads the command line; a throw is a bad option: its message is printed, exit code 2. */
  readonly parse: () => Options;
  /** How long the whole run may take before it is aborted as failed. */
  readonly budgetMs: (options: Options) => number;
  /** The run; resolves with the report's lines. `signal` aborts on Ctrl-C, SIGTERM or the budget. */
  readonly run: (options: Options, signal: AbortSignal) => Promise<readonly string[]>;
  /** Stops what the run started and removes its files, however it ended. */
  readonly cleanUp: () => Promise<void>;
  /** The same from the process's `exit` handler: synchronous, no grace (SIGKILL, rmSync). */
  readonly killNow: () => void;
  readonly progress: (message: string) => void;
  /** Prints more after the failure line (e.g. what the servers printed last). */
  readonly onFailure?: () => void;
}

/**
 * Runs a benchmark as the others in bench/ do and returns its exit code: 0 whatever the figures
 * say (the report is printed on stdout), 1 when the run could not be done, 2 for a bad option,
 * 130 when interrupted. The first Ctrl-C (or SIGTERM) aborts the run and cleans up; a second one
 * exits at once, the `exit` handler still killing what was started.
 *
 * @example
 * process.exitCode = await runBenchmark({ name: "handshake benchmark", parse, budgetMs, run, cleanUp, killNow, progress });
 * setTimeout(() => process.exit(), 5_000).unref();
 */
export async function runBenchmark<Options>(spec: BenchmarkSpec<Options>): Promise<number> {
  let options: Options;
  try {
    options = spec.parse();
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const controller = new AbortController();
  const budgetMs = spec.budgetMs(options);
  const watchdog = setTimeout(() => controller.abort(new Error(`the run exceeded its ${Math.round(budgetMs / 1000)} s budget`)), budgetMs);
  let interrupted = false;
  const onSignal = (name: string) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    spec.progress(`${name}: stopping and cleaning up (again to force)`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("exit", () => spec.killNow());
  try {
    const lines = await spec.run(options, controller.signal);
    console.log(lines.join("\n"));
    return 0;
  } catch (error) {
    const reason = controller.signal.aborted ? (controller.signal.reason as Error) : error;
    console.error(`${spec.name} failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    spec.onFailure?.();
    return interrupted ? 130 : 1;
  } finally {
    clearTimeout(watchdog);
    await spec.cleanUp();
  }
}
