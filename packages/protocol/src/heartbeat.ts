/** Default check-in interval in seconds (Portainer's default is 5 s as well). */
export const defaultCheckinIntervalSeconds = 5;

/** Grace added to twice the interval before a device counts as offline. */
export const heartbeatGraceSeconds = 20;

/**
 * The heartbeat rule: a device is alive when its last check-in is no older than
 * 2 × interval + 20 s.
 *
 * @example
 * isHeartbeatAlive(new Date(Date.now() - 25_000), 5); // true: 25 s ≤ 30 s
 */
export function isHeartbeatAlive(lastCheckIn: Date | number | null | undefined, intervalSeconds: number, now: Date | number = Date.now()): boolean {
  if (lastCheckIn === null || lastCheckIn === undefined) return false;
  const last = typeof lastCheckIn === "number" ? lastCheckIn : lastCheckIn.getTime();
  const at = typeof now === "number" ? now : now.getTime();
  return at - last <= (2 * intervalSeconds + heartbeatGraceSeconds) * 1000;
}
