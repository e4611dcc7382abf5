/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or a benchmark's `--server-cpu-prof DIR`):
 * self time by function and by file, as shares of the sampled time, optionally only between
 * two CLOCK_MONOTONIC instants (µs, as bench:fleet prints its window).
 *
 *   npx node bench/fleet/profile-summary.ts PROFILE.cpuprofile [--top 25] [--from µs] [--to µs]
 *
 * Prints "idle", "(garbage collector)", "(program)" and the rest as they come: "(program)" is
 * native work V8 cannot attribute to a JavaScript frame (TLS, sockets, the libuv loop).
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

const shortUrl = (url: string) => (url === "" ? "(native)" : url.replace(/^file:\/\/.*?\/(node_modules|packages)\//, "$1/"));

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: "string", default: "25" }, from: { type: "string" }, to: { type: "string" } },
  });
  const [file] = positionals;
  if (!file) {
    console.error("Usage: npx node bench/fleet/profile-summary.ts PROFILE.cpuprofile [--top 25] [--from µs] [--to µs]");
    process.exit(1);
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const top = Number(values.top);
  const self = selfTimes(profile, values.from === undefined ? -Infinity : Number(values.from), values.to === undefined ? Infinity : Number(values.to));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of self) {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) continue;
    total += micros;
    const url = shortUrl(frame.url);
    const name = `${frame.functionName || "(anonymous)"} ${url}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
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
