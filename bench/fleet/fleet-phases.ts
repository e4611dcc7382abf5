import { setTimeout as sleep } from "node:timers/promises";
import type { FleetGroup } from "./fleet-group.ts";
import { LatencySamples } from "./latency-samples.ts";

/** After the window, how long acks of heartbeats sent in it may still arrive. */
export const ackGraceMs = 5_000;

/** Reports the ramp every two seconds until everyone is connected or the deadline passes. */
export async function waitForFleet(fleet: FleetGroup, size: number, deadline: number, signal: AbortSignal, progress: (message: string) => void): Promise<void> {
  let lastReport = 0;
  for (;;) {
    const snapshot = await fleet.snapshot();
    if (snapshot.connected >= size || performance.now() >= deadline) return;
    if (performance.now() - lastReport >= 2_000) {
      lastReport = performance.now();
      progress(`connected ${snapshot.connected}/${size}, connect failures ${snapshot.connectFailures.reduce((sum, [, count]) => sum + count, 0)}`);
    }
    await sleep(250, undefined, { signal });
  }
}

/**
 * How late the simulator's own timers fire (ms beyond a 20 ms tick): latency measured here
 * includes this, so it tells whether the load generator distorts the numbers.
 * (monitorEventLoopDelay reports whole tick intervals at its resolution, not the excess.)
 */
export function startLagProbe(): { stop(): ReturnType<LatencySamples["summary"]> } {
  const samples = new LatencySamples();
  const tickMs = 20;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    samples.add(Math.max(0, now - last - tickMs));
    last = now;
  }, tickMs).unref();
  return {
    stop() {
      clearInterval(timer);
      return samples.summary();
    },
  };
}

/** Until every heartbeat of the window is acked, nothing is in flight, or the grace is over. */
export async function waitForAcks(fleet: FleetGroup, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + ackGraceMs;
  while (performance.now() < deadline) {
    const [window, snapshot] = await Promise.all([fleet.windowResult("window"), fleet.snapshot()]);
    if (window.acked >= window.sent || snapshot.inFlight === 0) return;
    await sleep(100, undefined, { signal });
  }
}
