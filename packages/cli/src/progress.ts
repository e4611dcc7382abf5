/**
 * Shows a spinner with elapsed seconds on a terminal while `work` runs (RSA 8192 key
 * generation takes seconds to minutes); prints nothing when stderr is not a TTY.
 */
export async function withProgress<T>(label: string, work: Promise<T>, enabled: boolean): Promise<T> {
  const stream = process.stderr;
  if (!enabled || !stream.isTTY) return work;
  const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  const started = Date.now();
  let frame = 0;
  const timer = setInterval(() => {
    stream.write(`\r${frames[frame++ % frames.length]} ${label}… ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }, 100);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    stream.write(`\r✓ ${label} (${((Date.now() - started) / 1000).toFixed(1)}s)\x1b[K\n`);
  }
}
