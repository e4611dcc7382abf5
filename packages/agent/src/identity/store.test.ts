import { X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { privateKeyToPem } from "@pier/pki";
import { checkGrant } from "./grant.ts";
import { keyFingerprint, newDeviceKey } from "./csr.ts";
import { IdentityStore } from "./store.ts";
import { testCa, type TestCa } from "./test-ca.testkit.ts";

let dataDir: string;
let ca: TestCa;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "pier-identity-"));
  ca = testCa();
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const serialOf = (pem: Buffer | string) => new X509Certificate(pem).serialNumber;

/**
 * An enrolled store (current.*) and the files of a renewal that completed on disk, kept aside
 * (`next.key`, `next.crt`), to lay out each crash point by hand.
 */
function enrolledWithRenewal(lifetimeMs = 3600_000) {
  const store = new IdentityStore(dataDir);
  const currentKey = store.enrollmentKey();
  store.storeGrant(checkGrant(ca.grant(currentKey, { lifetimeMs }), currentKey), currentKey);
  const oldSerial = serialOf(readFileSync(store.path("current.crt")));
  const nextKey = newDeviceKey();
  const nextGrant = checkGrant(ca.grant(nextKey, { notBefore: new Date(Date.now() + 500), lifetimeMs }), nextKey);
  const newSerial = nextGrant.certificate.serialNumber;
  return { store, currentKey, nextKey, nextKeyPem: privateKeyToPem(nextKey), nextCertPem: nextGrant.certificatePem, oldSerial, newSerial };
}

describe("IdentityStore: DATA/identity", () => {
  it("makes the enrollment key once, 0600 in a 0700 directory, and keeps it across restarts", () => {
    const store = new IdentityStore(dataDir);
    expect(store.load()).toEqual({});
    const key = store.enrollmentKey();
    expect(statSync(store.dir).mode & 0o777).toBe(0o700);
    expect(statSync(store.path("current.key")).mode & 0o777).toBe(0o600);
    expect(keyFingerprint(new IdentityStore(dataDir).enrollmentKey())).toBe(keyFingerprint(key));
    // A key without a certificate is not a usable pair.
    expect(store.load()).toEqual({});
  });

  it("stores a grant beside the key it was issued for, with the trust bundle, and loads the pair", () => {
    const store = new IdentityStore(dataDir);
    const key = store.enrollmentKey();
    const grant = ca.grant(key);
    expect(store.storeGrant(checkGrant(grant, key), key)).toBe("current");
    expect(readFileSync(store.path("trust.pem"), "utf8")).toBe(grant.trustBundle);
    const { usable } = store.load();
    expect(usable?.certSlot).toBe("current");
    expect(usable?.keySlot).toBe("current");
    expect(usable?.certificate.serialNumber).toBe(serialOf(grant.certificate));
  });

  it("returns an expired pair (for re-enrollment) only when no unexpired one loads", () => {
    const store = new IdentityStore(dataDir);
    const key = store.enrollmentKey();
    store.storeGrant(checkGrant(ca.grant(key, { notBefore: new Date(Date.now() - 7200_000), lifetimeMs: 60_000 }), key), key);
    const loaded = store.load();
    expect(loaded.usable).toBeUndefined();
    expect(loaded.expired?.certSlot).toBe("current");
  });

  it("promotes next to current and keeps the old certificate as previous.crt", () => {
    const { store, nextKeyPem, nextCertPem, oldSerial, newSerial } = enrolledWithRenewal();
    writeFileSync(store.path("next.key"), nextKeyPem, { mode: 0o600 });
    writeFileSync(store.path("next.crt"), nextCertPem);
    const pair = store.load().usable;
    expect(pair?.certSlot).toBe("next");
    store.promote(pair!);
    expect(existsSync(store.path("next.key")) || existsSync(store.path("next.crt"))).toBe(false);
    expect(serialOf(readFileSync(store.path("current.crt")))).toBe(newSerial);
    expect(serialOf(readFileSync(store.path("previous.crt")))).toBe(oldSerial);
    expect(statSync(store.path("current.key")).mode & 0o777).toBe(0o600);
    expect(store.load().usable?.certificate.serialNumber).toBe(newSerial);
  });

  describe("a kill -9 at each step of a renewal leaves a working pair", () => {
    // Each case lays out on disk what the agent had written when it died, then "restarts"
    // (a new IdentityStore) and checks the pair it would dial with, then finishes the promotion.
    it("after next.key: the current pair", () => {
      const { store, nextKeyPem, oldSerial } = enrolledWithRenewal();
      writeFileSync(store.path("next.key"), nextKeyPem, { mode: 0o600 });
      const usable = new IdentityStore(dataDir).load().usable;
      expect(usable?.certificate.serialNumber).toBe(oldSerial);
      expect(usable?.keySlot).toBe("current");
    });

    it("with next.key torn (half written by a crash without rename): the current pair", () => {
      const { store, nextKeyPem, oldSerial } = enrolledWithRenewal();
      writeFileSync(store.path("next.key"), nextKeyPem.slice(0, 40), { mode: 0o600 });
      expect(new IdentityStore(dataDir).load().usable?.certificate.serialNumber).toBe(oldSerial);
    });

    it("after next.crt: the renewed pair (the server issued it; the old one stays valid)", () => {
      const { store, nextKeyPem, nextCertPem, newSerial } = enrolledWithRenewal();
      writeFileSync(store.path("next.key"), nextKeyPem, { mode: 0o600 });
      writeFileSync(store.path("next.crt"), nextCertPem);
      expect(new IdentityStore(dataDir).load().usable?.certificate.serialNumber).toBe(newSerial);
    });

    it("with next.crt torn: the current pair", () => {
      const { store, nextKeyPem, nextCertPem, oldSerial } = enrolledWithRenewal();
      writeFileSync(store.path("next.key"), nextKeyPem, { mode: 0o600 });
      writeFileSync(store.path("next.crt"), nextCertPem.slice(0, nextCertPem.length / 2));
      expect(new IdentityStore(dataDir).load().usable?.certificate.serialNumber).toBe(oldSerial);
    });

    it("with next.crt empty (a file system that lost the data of an unsynced write): the current pair", () => {
      const { store, nextKeyPem, nextCertPem, oldSerial } = enrolledWithRenewal();
      writeFileSync(store.path("next.key"), nextKeyPem, { mode: 0o600 });
      writeFileSync(store.path("next.crt"), nextCertPem);
      truncateSync(store.path("next.crt"), 0);
      expect(new IdentityStore(dataDir).load().usable?.certificate.serialNumber).toBe(oldSerial);
    });

    it("after previous.crt, and after next.key was renamed to current.key: the renewed pair, and promotion completes", () => {
      const { store, nextKeyPem, nextCertPem, oldSerial, newSerial } = enrolledWithRenewal();
      copyFileSync(store.path("current.crt"), store.path("previous.crt"));
      // The key rename happened, the certificate's did not: current.key no longer matches current.crt.
      writeFileSync(store.path("current.key"), nextKeyPem, { mode: 0o600 });
      writeFileSync(store.path("next.crt"), nextCertPem);
      const pair = new IdentityStore(dataDir).load().usable;
      expect(pair?.certificate.serialNumber).toBe(newSerial);
      expect(pair).toMatchObject({ certSlot: "next", keySlot: "current" });
      new IdentityStore(dataDir).promote(pair!);
      expect(serialOf(readFileSync(store.path("current.crt")))).toBe(newSerial);
      expect(serialOf(readFileSync(store.path("previous.crt")))).toBe(oldSerial);
      expect(new IdentityStore(dataDir).load().usable).toMatchObject({ certSlot: "current", keySlot: "current" });
    });

    it("a renewed pair that expired falls back to an unexpired current one", () => {
      const { store, nextKeyPem, currentKey, oldSerial } = enrolledWithRenewal();
      // An older, already expired renewal left in next.* (clock jumped, long-offline device).
      const staleKey = newDeviceKey();
      writeFileSync(store.path("next.key"), privateKeyToPem(staleKey), { mode: 0o600 });
      writeFileSync(store.path("next.crt"), ca.grant(staleKey, { notBefore: new Date(Date.now() - 7200_000), lifetimeMs: 60_000 }).certificate);
      expect(nextKeyPem).toBeTruthy();
      expect(currentKey).toBeTruthy();
      expect(new IdentityStore(dataDir).load().usable?.certificate.serialNumber).toBe(oldSerial);
    });
  });

  it("uses the certificate's mtime as the moment it was received", () => {
    const store = new IdentityStore(dataDir);
    const key = store.enrollmentKey();
    store.storeGrant(checkGrant(ca.grant(key), key), key);
    const at = new Date(Date.now() - 60_000);
    utimesSync(store.path("current.crt"), at, at);
    expect(Math.abs(store.load().usable!.receivedAt.getTime() - at.getTime())).toBeLessThan(1000);
  });
});
