/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or a benchmark's `--server-cpu-prof DIR`):
 * self time by function and by file, as shares of the sampled time, optionally only between
 * two CLOCK_MONOTONIC instants (µs, as bench:fleet prints its window).
 *
 *   npx node bench/fleet/profile-summary.ts PROFILE.cpuprofile [--top 25] [--from µs] [--to µs] [--busy-spans MS]
 *
 * Prints "idle", "(garbage collector)", "(program)" and the rest as they come: "(program)" is
 * native work V8 cannot attribute to a JavaScript frame (TLS, sockets, the libuv loop).
 * `--busy-spans MS` looks only at the runs of consecutive non-idle samples of at least MS ms
 * (what makes the event loop late): how many, when (µs, and the gap to the previous one), and
 * their self time by function, with the call path of each function's heaviest node.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time (µs) per profile node id, counting only samples taken within [from, to]. */
export function selfTimes(profile: Profile, from = -Infinity, to = Infinity): Map<number, number> {
  const self = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    // A sample stands for the time until the next one.
    const next = profile.timeDeltas[i + 1] ?? 0;
    if (at < from || at > to) continue;
    const node = profile.samples[i] ?? 0;
    self.set(node, (self.get(node) ?? 0) + next);
  }
  return self;
}

/** Runs of consecutive samples that are not "(idle)", of at least `minMicros`: their bounds and sample indexes. */
export function busySpans(profile: Profile, minMicros: number): { start: number; micros: number; samples: number[] }[] {
  const idle = new Set(profile.nodes.filter((node) => node.callFrame.functionName === "(idle)").map((node) => node.id));
  const spans: { start: number; micros: number; samples: number[] }[] = [];
  let current: { start: number; micros: number; samples: number[] } | undefined;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const next = profile.timeDeltas[i + 1] ?? 0;
    if (idle.has(profile.samples[i] ?? 0)) {
      if (current && current.micros >= minMicros) spans.push(current);
      current = undefined;
      continue;
    }
    current ??= { start: at, micros: 0, samples: [] };
    current.micros += next;
    current.samples.push(i);
  }
  if (current && current.micros >= minMicros) spans.push(current);
  return spans;
}

function printBusySpans(profile: Profile, minMs: number, top: number, from: number, to: number): void {
  const spans = busySpans(profile, minMs * 1000).filter((span) => span.start >= from && span.start <= to);
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const label = (id: number) => {
    const frame = nodes.get(id)?.callFrame;
    return frame ? frameLabel(frame) : String(id);
  };
  const byNode = new Map<number, number>();
  let total = 0;
  console.log(`${spans.length} busy spans of at least ${minMs} ms`);
  let previous: number | undefined;
  for (const span of spans) {
    const own = new Map<number, number>();
    for (const i of span.samples) {
      const id = profile.samples[i] ?? 0;
      const micros = profile.timeDeltas[i + 1] ?? 0;
      own.set(id, (own.get(id) ?? 0) + micros);
      byNode.set(id, (byNode.get(id) ?? 0) + micros);
    }
    total += span.micros;
    const heaviest = [...own].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([id, micros]) => `${label(id)} ${(micros / 1000).toFixed(1)} ms`);
    console.log(`  at ${span.start} µs${previous === undefined ? "" : ` (+${((span.start - previous) / 1000).toFixed(0)} ms)`}: ${(span.micros / 1000).toFixed(1)} ms; ${heaviest.join("; ")}`);
    previous = span.start;
  }
  console.log(`\nself time in those spans (${(total / 1000).toFixed(0)} ms), by node, with its call path`);
  for (const [id, micros] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const path: string[] = [];
    for (let at: number | undefined = parents.get(id); at !== undefined && path.length < 12; at = parents.get(at)) path.push(nodes.get(at)?.callFrame.functionName || "(anonymous)");
    console.log(`${((100 * micros) / total).toFixed(1).padStart(6)} %  ${label(id)}  ← ${path.join(" ← ")}`);
  }
}

const shortUrl = (url: string) => (url === "" ? "(native)" : url.replace(/^file:\/\/.*?\/(node_modules|packages)\//, "$1/"));

/** A frame as the tables print it: function name, short file and line. */
function frameLabel(frame: ProfileNode["callFrame"]): string {
  return `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: "string", default: "25" }, from: { type: "string" }, to: { type: "string" }, "busy-spans": { type: "string" } },
  });
  const [file] = positionals;
  if (!file) {
    console.error("Usage: npx node bench/fleet/profile-summary.ts PROFILE.cpuprofile [--top 25] [--from µs] [--to µs] [--busy-spans MS]");
    process.exit(1);
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const top = Number(values.top);
  const from = values.from === undefined ? -Infinity : Number(values.from);
  const to = values.to === undefined ? Infinity : Number(values.to);
  if (values["busy-spans"] !== undefined) {
    printBusySpans(profile, Number(values["busy-spans"]), top, from, to);
    return;
  }
  const self = selfTimes(profile, from, to);
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of self) {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) continue;
    total += micros;
    const url = shortUrl(frame.url);
    const name = frameLabel(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    byFile.set(url, (byFile.get(url) ?? 0) + micros);
  }
  const print = (title: string, table: Map<string, number>) => {
    console.log(`\n${title}`);
    for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((100 * micros) / total).toFixed(1).padStart(6)} %  ${(micros / 1000).toFixed(0).padStart(8)} ms  ${name}`);
    }
  };
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  print("self time by function", byFunction);
  print("self time by file", byFile);
}

if (import.meta.main) main(process.argv.slice(2));
