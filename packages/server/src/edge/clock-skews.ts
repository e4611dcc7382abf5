import { describeClockSkew, isReportableSkew } from "@pier/protocol";

/** How far a device's clock was from the server's, and when that was measured. */
export interface KnownClockSkew {
  /** The device's clock minus the server's, ms (negative: the device is behind). */
  readonly skewMs: number;
  /** When the frame carrying the device's clock arrived (server time). */
  readonly at: Date;
}

/** What changed with a report: the skew became reportable, changed while reportable, or went back within the limit. */
export type ClockSkewChange = "skewed" | "changed" | "agrees" | undefined;

/**
 * Each device's clock skew, from the clock its agent sends in its hello and heartbeats
 * (`hello.clock`, `heartbeat.clock`, docs/identity.md "Clock skew"): the device's clock minus
 * the server's on arrival (latency makes a device look up to one round trip behind; well under
 * the minute from which a skew is reported). Memory only, like the check-ins it rides with: the
 * agent sends it again in every hello and heartbeat. Kept after the session closes (a device
 * whose clock keeps it from connecting is when it matters most), dropped with the environment.
 *
 * @example
 * const skews = new ClockSkews();
 * skews.report(7, Date.now() - 5 * 3_600_000); // "skewed"
 * skews.of(7)?.skewMs; // ≈ -18,000,000
 */
export class ClockSkews {
  readonly #skews = new Map<number, KnownClockSkew>();

  /**
   * Keeps the skew of `environmentId` given the device's clock and when it arrived, and says
   * whether it crossed the reporting limit (or, past it, moved by more than a minute).
   */
  report(environmentId: number, deviceClockMs: number, at = new Date()): ClockSkewChange {
    const skewMs = deviceClockMs - at.getTime();
    const before = this.#skews.get(environmentId);
    this.#skews.set(environmentId, { skewMs, at });
    const was = before !== undefined && isReportableSkew(before.skewMs);
    const is = isReportableSkew(skewMs);
    if (is && !was) return "skewed";
    if (!is && was) return "agrees";
    if (is && before && isReportableSkew(skewMs - before.skewMs)) return "changed";
    return undefined;
  }

  /** The latest skew, or `undefined` when the device never sent its clock (an older agent, or never seen). */
  of(environmentId: number): KnownClockSkew | undefined {
    return this.#skews.get(environmentId);
  }

  /** Drops a removed environment's skew. */
  forget(environmentId: number): void {
    this.#skews.delete(environmentId);
  }
}

/**
 * The server's log line for a device whose clock is off (or back in line), with the amount and
 * what to do.
 *
 * @example
 * log("warn", clockSkewLogLine("environment 7 (edge-7)", -18_120_000, "skewed"));
 */
export function clockSkewLogLine(device: string, skewMs: number, change: Exclude<ClockSkewChange, undefined>): string {
  if (change === "agrees") return `${device}: its clock now agrees with the server's (within ${Math.round(Math.abs(skewMs) / 1000)} s)`;
  return `${device}: its clock is ${describeClockSkew(skewMs)} the server's (device ${new Date(Date.now() + skewMs).toISOString()}); its agent judges its certificate by the server's time, but set the device's clock (NTP): certificates, logs and schedules on it are off by as much`;
}
