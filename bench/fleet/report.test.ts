import { describe, expect, it } from "vitest";
import { LatencySamples, ReasonCounts } from "./latency-samples.ts";
import { formatReport, netConnectCost, type FleetReport } from "./report.ts";

/** A run of 200 agents: the ramp took 2 s of server CPU while 1,000 check-ins were answered; the window 1 s for 2,500. */
function report(overrides: { rampCheckIns?: number; windowAcked?: number } = {}): FleetReport {
  const latencies = new LatencySamples();
  latencies.addAll([1, 2, 3]);
  return {
    subject: "Pier",
    command: "npx node bench/fleet-simulator.ts --agents 200",
    environment: "test",
    agents: 200,
    intervalSeconds: 1,
    setup: {
      certificatesSeconds: 0.2,
      serverStartSeconds: 1,
      rampSeconds: 10,
      connected: 200,
      processes: 1,
      serverOpenFileLimit: 20_000,
      setupTimes: latencies,
      handshakeTimes: latencies,
      resumedHandshakes: 0,
      serverCpuSeconds: 2,
      checkInsAcked: overrides.rampCheckIns ?? 1_000,
      simulatorLagP99Ms: 1,
      simulatorLagMaxMs: 2,
      connectFailures: new ReasonCounts(),
      intervalMismatches: 0,
    },
    window: { warmUpSeconds: 1, seconds: 10, connectedAtStart: 200, connectedAtEnd: 200, sent: overrides.windowAcked ?? 2_500, acked: overrides.windowAcked ?? 2_500, latencies, lostSessions: new ReasonCounts() },
    server: { cpuSeconds: 1, userSeconds: 0.7, systemSeconds: 0.3, threads: [["main", 1]], peakRssBytes: 2 ** 28, rssBytes: 2 ** 28, loopDelay: undefined },
    simulator: { cpuSeconds: 1, eventLoopDelayP99Ms: 1, eventLoopDelayMaxMs: 2, rssBytes: 2 ** 27, agentLoopsLate: { p99: 3, max: 7 } },
    simulatorProcesses: [],
  };
}

// Issue 20's target is the server CPU per new agent; the ramp's CPU also answers the check-ins
// of the agents already connected, which the window prices.
describe("connect cost net of check-ins", () => {
  it("takes the ramp's check-ins at the window's CPU per check-in off the ramp's CPU, per connect", () => {
    // Precondition: 10 ms per connect gross, 400 µs per check-in in the window.
    expect(formatReport(report())).toMatch(/server CPU, ramp +2\.00 s \(10\.00 ms per connect, incl\. heartbeats meanwhile\)/);
    expect(formatReport(report())).toMatch(/\(400 µs per check-in\)/);
    expect(netConnectCost(report())).toEqual({ msPerConnect: 8, checkIns: 1_000, microsecondsPerCheckIn: 400 });
    expect(formatReport(report())).toMatch(/^ {4}net of check-ins +≈ 8\.00 ms per connect \(estimate: ramp CPU net of 1000 check-ins at 400 µs each, the window's CPU per check-in; issue 20: ≤ 2 ms\)$/m);
  });

  it("without check-ins in the ramp equals the gross figure, and is n/a when the window answered none", () => {
    expect(netConnectCost(report({ rampCheckIns: 0 })).msPerConnect).toBe(10);
    expect(formatReport(report({ windowAcked: 0 }))).toMatch(/net of check-ins +≈ n\/a ms per connect \(estimate: ramp CPU net of 1000 check-ins at n\/a µs each/);
  });
});

describe("the agents' own event loops", () => {
  it("are reported beside the server's, so a late ack can be told from a late reader", () => {
    expect(formatReport(report())).toMatch(/^ {4}agents' event loops late by p99 3\.00 ms, max 7\.00 ms \(the processes running the agents/m);
  });
});

describe("the server's memory", () => {
  it("splits the RSS into the V8 heap, its external memory and the rest, per agent, when the probe measured it", () => {
    const MiB = 2 ** 20;
    const base = report();
    const loopDelay = { p50Ms: 10, p99Ms: 11, maxMs: 12, count: 100, resolutionMs: 10, memory: { rss: 200 * MiB, heapTotal: 50 * MiB, heapUsed: 25 * MiB, external: 10 * MiB, arrayBuffers: MiB } };
    const text = formatReport({ ...base, server: { ...base.server, loopDelay } });
    // 200 agents: 50 MiB of heap is 256 KiB each; the rest is 200 − 50 − 10 = 140 MiB.
    expect(text).toMatch(/^ {4}of it +V8 heap 50 MiB = 256 KiB per agent \(25 MiB = 128 KiB in use\); external 10 MiB = 51 KiB; the rest \(OpenSSL, nghttp2, code\) 140 MiB = 717 KiB$/m);
    expect(formatReport(base)).not.toMatch(/V8 heap/);
  });
});
