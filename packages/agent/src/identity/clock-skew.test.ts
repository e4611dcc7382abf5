import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Logger } from "../logger.ts";
import { ServerClock } from "../server-clock.ts";
import { checkGrant } from "./grant.ts";
import { DeviceIdentity } from "./device-identity.ts";
import { IdentityStore } from "./store.ts";
import { testCa } from "./test-ca.testkit.ts";

const hour = 3_600_000;
let dataDir: string;
let lines: string[];
const log: Logger = { log: (level, message) => lines.push(`${level}: ${message}`) };

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "pier-clock-skew-"));
  lines = [];
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

/**
 * A device whose clock is `skewMs` off the server's (negative: behind), holding a certificate the
 * server issued just now by its own clock: notBefore back-dated 5 minutes, a 1 h lifetime.
 */
function enrolledWithSkew(skewMs: number) {
  const store = new IdentityStore(dataDir);
  const key = store.enrollmentKey();
  const serverNow = Date.now() - skewMs;
  store.storeGrant(checkGrant(testCa().grant(key, { notBefore: new Date(serverNow - 5 * 60_000), lifetimeMs: hour + 5 * 60_000 }), key), key);
  const clock = new ServerClock(log);
  return { identity: new DeviceIdentity(store, "edge-skewed", log, clock), clock, serverNow, notAfter: new Date(serverNow + hour) };
}

// Found by the chaos scenario clock-skew (docs/chaos.md): the agent judged the certificate the
// server issued by its own clock.
describe("DeviceIdentity on a device whose clock is off", () => {
  it("5 h behind: renews before the certificate expires once it knows the server's time (it renewed 5 h late, after expiry, before)", () => {
    const { identity, clock, serverNow, notAfter } = enrolledWithSkew(-5 * hour);
    const pair = identity.plan().pair!;
    // On its own clock the renewal falls hours after the certificate expired in fact.
    expect(identity.renewalDue(pair).getTime()).toBeGreaterThan(Date.now() + 5 * hour);
    clock.learn(serverNow);
    const due = identity.renewalDue(pair);
    // On this device's clock: between now and the expiry as this device's clock reads it.
    expect(due.getTime()).toBeGreaterThan(Date.now() + 0.6 * hour);
    expect(due.getTime()).toBeLessThan(clock.toLocal(notAfter).getTime());
    expect(lines.join("\n")).toMatch(/warn: clock skew: this device's clock is 5 h behind the server's .*set this device's clock \(NTP\)/);
  });

  it("5 h ahead: uses a fresh 1 h certificate instead of re-enrolling with it as expired, and says the plan was made on a wrong clock", () => {
    const { identity, clock, serverNow } = enrolledWithSkew(5 * hour);
    const before = identity.plan();
    expect(before.csr).toBeDefined(); // expired by this device's clock: it would go back to the Waiting Room
    clock.learn(serverNow);
    expect(identity.planOutdated(before)).toBe(true);
    const after = identity.plan();
    expect(after.pair).toBeDefined();
    expect(after.csr).toBeUndefined();
    expect(identity.planOutdated(after)).toBe(false);
    expect(lines.join("\n")).toMatch(/clock skew: this device's clock is 5 h ahead of the server's/);
  });

  it("counts a new certificate's lifetime from when it accepted it, by the server's time, whatever the file's mtime says", () => {
    const store = new IdentityStore(dataDir);
    const clock = new ServerClock(log);
    const serverNow = Date.now() - 5 * hour; // this device is 5 h ahead
    clock.learn(serverNow);
    const identity = new DeviceIdentity(store, "edge-skewed", log, clock);
    const plan = identity.plan();
    expect(identity.acceptGrant(testCa().grant(plan.csrKey!, { notBefore: new Date(serverNow - 5 * 60_000), lifetimeMs: 6 * 60_000 }), plan)).toBe(true);
    // An mtime that is not this device's clock (libfaketime does not reach the statx that Node uses).
    utimesSync(store.path("current.crt"), new Date(serverNow), new Date(serverNow));
    const pair = identity.plan().pair!;
    // 60 s of lifetime left: renewed 40 to 46 s from now, not at once.
    expect(identity.renewalDue(pair).getTime() - Date.now()).toBeGreaterThan(35_000);
  });

  it("a clock set by NTP meanwhile brings it back in line, said once", () => {
    const { clock, serverNow } = enrolledWithSkew(-5 * hour);
    clock.learn(serverNow);
    clock.learn(serverNow + 10); // a second reading, same skew: nothing new to say
    expect(clock.learn(Date.now() + 300)).toBe(true);
    expect(lines.filter((line) => line.includes("clock skew"))).toEqual([expect.stringContaining("5 h behind"), expect.stringContaining("now agrees with the server's (within 0 s)")]);
    // A Date header (whole seconds) within 2 s of a frame's reading changes nothing.
    expect(clock.learnDateHeader(new Date(Date.now() + 1500).toUTCString())).toBe(false);
    expect(clock.learnDateHeader(new Date(Date.now() - 3 * hour).toUTCString())).toBe(true);
    expect(clock.learnDateHeader("not a date")).toBe(false);
  });
});
