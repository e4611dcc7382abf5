/**
 * Every latency of a measurement window, kept whole (2,000 agents × 12 check-ins a minute is a
 * few tens of thousands of numbers), so percentiles are exact rather than bucketed.
 *
 * @example
 * const samples = new LatencySamples();
 * samples.add(1.7);
 * samples.summary(); // { count: 1, p50: 1.7, p90: 1.7, p99: 1.7, max: 1.7 }
 */
export class LatencySamples {
  #values: number[] = [];

  add(milliseconds: number): void {
    this.#values.push(milliseconds);
  }

  /** Adds every value of another process's `values()`. */
  addAll(milliseconds: ArrayLike<number>): void {
    for (let i = 0; i < milliseconds.length; i++) this.#values.push(milliseconds[i] ?? Number.NaN);
  }

  get count(): number {
    return this.#values.length;
  }

  /** A copy of the values, compact for IPC. */
  values(): Float64Array {
    return Float64Array.from(this.#values);
  }

  /** Nearest-rank percentiles and the maximum; NaN when empty. */
  summary(): { count: number; p50: number; p90: number; p99: number; max: number } {
    const sorted = Float64Array.from(this.#values).sort();
    const rank = (p: number) => (sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN));
    return { count: sorted.length, p50: rank(50), p90: rank(90), p99: rank(99), max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN) };
  }
}

/** Counts of distinct reasons (connect failures, lost sessions), most frequent first. */
export class ReasonCounts {
  readonly #counts = new Map<string, number>();

  add(reason: string, count = 1): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + count);
  }

  get total(): number {
    let total = 0;
    for (const count of this.#counts.values()) total += count;
    return total;
  }

  entries(): [string, number][] {
    return [...this.#counts].sort((a, b) => b[1] - a[1]);
  }
}

/**
 * How late this process's own timers fire (ms beyond a 20 ms tick), until `stop()`: latency
 * measured in a load generator includes it, so it tells whether the generator, not the server,
 * is slow. (monitorEventLoopDelay reports whole tick intervals at its resolution, not the excess.)
 *
 * @example
 * const lag = startLagProbe();
 * …
 * lag.stop(); // { count, p50, p90, p99, max }; lag.samples keeps every sample
 */
export function startLagProbe(): { readonly samples: LatencySamples; stop(): ReturnType<LatencySamples["summary"]> } {
  const samples = new LatencySamples();
  const tickMs = 20;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    samples.add(Math.max(0, now - last - tickMs));
    last = now;
  }, tickMs).unref();
  return {
    samples,
    stop() {
      clearInterval(timer);
      return samples.summary();
    },
  };
}
