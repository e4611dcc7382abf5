import { describe, expect, it } from "vitest";
import { busySpans } from "./profile-summary.ts";

describe("busySpans", () => {
  // Node 1 is the root, 2 "(idle)", 3 some work; samples 1 ms apart.
  const nodes = [
    { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 }, children: [2, 3] },
    { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
    { id: 3, callFrame: { functionName: "work", url: "file:///x.js", lineNumber: 0 } },
  ];
  const profile = (samples: number[]) => ({ nodes, startTime: 0, endTime: samples.length * 1000, samples, timeDeltas: samples.map(() => 1000) });

  it("finds the runs of work between idle samples that last at least the threshold", () => {
    const spans = busySpans(profile([2, 3, 3, 3, 2, 3, 2, 3, 3, 3, 3, 2]), 3000);
    expect(spans.map((span) => ({ start: span.start, micros: span.micros, samples: span.samples.length }))).toEqual([
      { start: 2000, micros: 3000, samples: 3 },
      { start: 8000, micros: 4000, samples: 4 },
    ]);
  });

  it("finds none in an idle profile", () => {
    expect(busySpans(profile([2, 2, 2]), 1)).toEqual([]);
  });
});
