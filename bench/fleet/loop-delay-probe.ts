/**
 * Event-loop delay of a process under benchmark, loaded into it with
 * `NODE_OPTIONS="--import <this file>"` and `PIER_LOOP_DELAY_FILE=<path>` (bench/renewal-storm.ts
 * does both for its `pier server`). Each SIGUSR2 appends one JSON line to that file with the delay
 * since the previous signal (or since start) — `{p50Ms, p99Ms, maxMs, count}` — and starts a new
 * window, so the benchmark can measure one phase at a time. Resolution 10 ms (or
 * `PIER_LOOP_DELAY_RESOLUTION_MS`, also written as `resolutionMs`): the figures are the intervals
 * `monitorEventLoopDelay` sees, whole ticks included (a quiet loop reads ≈ 10 ms); minus the
 * resolution, they are how late the loop was (bench/fleet/loop-delay.ts).
 */
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.PIER_LOOP_DELAY_FILE;
if (file) {
  const resolutionMs = Number(process.env.PIER_LOOP_DELAY_RESOLUTION_MS ?? 10) || 10;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  process.on("SIGUSR2", () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    appendFileSync(file, `${JSON.stringify({ p50Ms: ms(histogram.percentile(50)), p99Ms: ms(histogram.percentile(99)), maxMs: ms(histogram.max), count: histogram.count, resolutionMs })}\n`);
    histogram.reset();
  });
}
