/**
 * Clock skew between a device and the server (docs/identity.md "Clock skew"): each end tells the
 * other its clock (`hello.clock`, `heartbeat.clock`; `welcome.time`, `ack.time`), so both can say
 * how far apart they are, and the agent judges its certificate's validity and renewal by the
 * server's time. No Node APIs: the UI shares it.
 */

/**
 * `reportSeconds`: skew from which either end reports it (below, network latency and a
 * well-kept clock's drift); `maxClockMs`: the largest clock a frame may carry (JavaScript's last
 * date, +275760-09-13).
 */
export const clockSkewLimits = { reportSeconds: 60, maxClockMs: 8_640_000_000_000_000 } as const;

/** Whether a skew (ms, either sign) is large enough to report. */
export function isReportableSkew(skewMs: number): boolean {
  return Math.abs(skewMs) >= clockSkewLimits.reportSeconds * 1000;
}

/**
 * A duration for people, to the minute past an hour, to the second below: `5 h 2 min`, `3 min 20 s`,
 * `2 d 4 h`.
 *
 * @example
 * formatSkewDuration(18_120_000); // "5 h 2 min"
 */
export function formatSkewDuration(ms: number): string {
  const exact = Math.abs(ms) / 1000;
  // Rounded to the unit shown last: 4 h 59 min 59.4 s reads "5 h", not "4 h 59 min".
  const seconds = exact >= 86_400 ? Math.round(exact / 3600) * 3600 : exact >= 3600 ? Math.round(exact / 60) * 60 : Math.round(exact);
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return seconds % 60 > 0 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  return `${seconds} s`;
}

/**
 * The device's clock against the server's, in words: `5 h 2 min behind`, `3 min ahead of`. The
 * skew is the device's clock minus the server's.
 *
 * @example
 * `this device's clock is ${describeClockSkew(-18_120_000)} the server's`; // "… 5 h 2 min behind the server's"
 */
export function describeClockSkew(skewMs: number): string {
  return `${formatSkewDuration(skewMs)} ${skewMs < 0 ? "behind" : "ahead of"}`;
}
