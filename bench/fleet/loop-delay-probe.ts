/**
 * Event-loop delay of a process under benchmark, loaded into it with
 * `NODE_OPTIONS="--import <this file>"` and `PIER_LOOP_DELAY_FILE=<path>` (bench/renewal-storm.ts
 * does both for its `pier server`). Each SIGUSR2 appends one JSON line to that file with the delay
 * since the previous signal (or since start) — `{p50Ms, p99Ms, maxMs, count}` — and starts a new
 * window, so the benchmark can measure one phase at a time. Resolution 10 ms (or
 * `PIER_LOOP_DELAY_RESOLUTION_MS`, also written as `resolutionMs`): the figures are the intervals
 * `monitorEventLoopDelay` sees, whole ticks included (a quiet loop reads ≈ 10 ms); minus the
 * resolution, they are how late the loop was (bench/fleet/loop-delay.ts). The line also carries the
 * window's garbage-collection pauses on the main thread (`gc`: count, total and longest, and the
 * same for major collections), to tell a late loop's collector from its code, and the process's
 * memory at the signal (`memory`: `process.memoryUsage()`, bytes), to tell the V8 heap from the
 * rest of the RSS.
 */
import { appendFileSync } from "node:fs";
import { PerformanceObserver, constants, monitorEventLoopDelay } from "node:perf_hooks";

interface GcPauses {
  count: number;
  totalMs: number;
  maxMs: number;
  majorCount: number;
  majorMaxMs: number;
}

const file = process.env.PIER_LOOP_DELAY_FILE;
if (file) {
  const resolutionMs = Number(process.env.PIER_LOOP_DELAY_RESOLUTION_MS ?? 10) || 10;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const none = (): GcPauses => ({ count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMaxMs: 0 });
  let gc = none();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.majorCount++;
        gc.majorMaxMs = Math.max(gc.majorMaxMs, entry.duration);
      }
    }
  }).observe({ entryTypes: ["gc"] });
  process.on("SIGUSR2", () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const round = (value: number) => Math.round(value * 100) / 100;
    const pauses = { count: gc.count, totalMs: round(gc.totalMs), maxMs: round(gc.maxMs), majorCount: gc.majorCount, majorMaxMs: round(gc.majorMaxMs) };
    const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
    const memory = { rss, heapTotal, heapUsed, external, arrayBuffers };
    appendFileSync(file, `${JSON.stringify({ p50Ms: ms(histogram.percentile(50)), p99Ms: ms(histogram.percentile(99)), maxMs: ms(histogram.max), count: histogram.count, resolutionMs, gc: pauses, memory })}\n`);
    histogram.reset();
    gc = none();
  });
}
