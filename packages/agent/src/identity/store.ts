import { X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { keysMatch, loadPrivateKey, privateKeyToPem, writeFileAtomic } from "@pier/pki";
import { AgentError } from "../errors.ts";
import type { CheckedGrant } from "./grant.ts";
import { newDeviceKey } from "./csr.ts";

/** The two slots of docs/identity.md: `current.*` in use, `next.*` while a renewal completes. */
export type Slot = "current" | "next";

/** A key and the certificate issued for it, as loaded from `DATA/identity/`. */
export interface IdentityPair {
  /** Where the certificate lives; its key may sit in the other slot after a crash mid-promotion. */
  readonly certSlot: Slot;
  readonly keySlot: Slot;
  readonly key: KeyObject;
  readonly keyPem: Buffer;
  /** The leaf first, then any intermediates, as presented in the handshake. */
  readonly certPem: Buffer;
  readonly certificate: X509Certificate;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When the agent stored the certificate (the file's mtime): renewal counts its lifetime from here. */
  readonly receivedAt: Date;
}

/** What the agent holds at a given moment. */
export interface LoadedIdentity {
  /** The newest unexpired pair, if any: dial with it. */
  readonly usable?: IdentityPair;
  /** Without a usable pair, the newest expired one: present it with a CSR for its key (re-enrollment). */
  readonly expired?: IdentityPair;
}

/**
 * Points of a renewal where the end-to-end tests kill the agent (`PIER_AGENT_TEST_CRASH_AT`,
 * a test hook): whatever is on disk then must still give a working pair.
 */
export const crashPoints = ["after-next-key", "after-next-crt", "after-previous-crt", "after-key-promoted"] as const;
export type CrashPoint = (typeof crashPoints)[number];

const slots: readonly Slot[] = ["next", "current"];

/**
 * The device's identity files, `DATA/identity/` (0700): `current.key` (0600), `current.crt`,
 * `next.key` (0600), `next.crt`, `trust.pem`, `previous.crt`. Every write goes through a
 * temporary file and `rename`, and every step of a renewal leaves a loadable pair: `load` pairs
 * each certificate with whichever key file matches it, so a crash between two renames is harmless.
 *
 * @example
 * const store = new IdentityStore("/data");
 * const { usable } = store.load();
 */
export class IdentityStore {
  readonly dir: string;
  readonly #crashAt: string | undefined;

  constructor(dataDir: string, options: { crashAt?: string } = {}) {
    this.dir = join(dataDir, "identity");
    this.#crashAt = options.crashAt;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
    } catch (error) {
      throw new AgentError("config_invalid", `Cannot create the identity directory ${this.dir}: ${(error as Error).message}.`, { cause: error });
    }
  }

  /** Path of one of the identity files. */
  path(name: `${Slot}.key` | `${Slot}.crt` | "trust.pem" | "previous.crt"): string {
    return join(this.dir, name);
  }

  /**
   * The newest pair that loads and has not expired (by notBefore, so a completed renewal's
   * `next` wins over `current`), else the newest expired one. Damaged or missing files are skipped.
   */
  load(now = new Date()): LoadedIdentity {
    const pairs = this.#pairs();
    pairs.sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime() || b.notAfter.getTime() - a.notAfter.getTime());
    const usable = pairs.find((pair) => pair.notAfter.getTime() > now.getTime());
    if (usable) return { usable };
    const [expired] = pairs;
    return expired ? { expired } : {};
  }

  /**
   * The pair of `current.*` (its certificate with the key it matches), if it loads and has not
   * expired: what the agent falls back to when the server refuses a renewed `next` pair.
   */
  currentPair(now = new Date()): IdentityPair | undefined {
    return this.#pairs().find((pair) => pair.certSlot === "current" && pair.notAfter.getTime() > now.getTime());
  }

  /** Every certificate file paired with the key file it matches; damaged or missing files are skipped. */
  #pairs(): IdentityPair[] {
    const keys = slots.flatMap((slot) => {
      const keyPem = this.#read(`${slot}.key`);
      if (!keyPem) return [];
      try {
        return [{ slot, keyPem, key: loadPrivateKey(keyPem) }];
      } catch {
        return [];
      }
    });
    const pairs: IdentityPair[] = [];
    for (const certSlot of slots) {
      const certPem = this.#read(`${certSlot}.crt`);
      if (!certPem) continue;
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(certPem);
      } catch {
        continue;
      }
      const match = keys.find((candidate) => keysMatch(candidate.key, certificate.publicKey));
      if (!match) continue;
      const notBefore = new Date(certificate.validFrom);
      const notAfter = new Date(certificate.validTo);
      const receivedAt = statSync(this.path(`${certSlot}.crt`)).mtime;
      pairs.push({ certSlot, keySlot: match.slot, key: match.key, keyPem: match.keyPem, certPem, certificate, notBefore, notAfter, receivedAt });
    }
    return pairs;
  }

  /**
   * The key to enroll with while no certificate is held: `current.key`, made (and written,
   * 0600) on first use and kept across restarts, so the fingerprint the Waiting Room shows stays
   * the device's until it is associated.
   */
  enrollmentKey(): KeyObject {
    const existing = this.#read("current.key");
    if (existing) {
      try {
        return loadPrivateKey(existing);
      } catch {
        // a damaged key file: replace it (it never had a certificate, or load() would have paired it)
      }
    }
    const key = newDeviceKey();
    writeFileAtomic(this.path("current.key"), privateKeyToPem(key), 0o600);
    return key;
  }

  /** Makes and writes `next.key` (0600), the key of a renewal. */
  newNextKey(): KeyObject {
    const key = newDeviceKey();
    writeFileAtomic(this.path("next.key"), privateKeyToPem(key), 0o600);
    this.#crashPoint("after-next-key");
    return key;
  }

  /**
   * Stores a checked grant as the certificate of the slot whose key file holds `key` (the
   * enrollment key → `current.crt`, a renewal's key → `next.crt`), and its trust bundle.
   * Returns the slot written.
   */
  storeGrant(grant: CheckedGrant, key: KeyObject): Slot {
    const slot = slots.find((candidate) => {
      const pem = this.#read(`${candidate}.key`);
      try {
        return pem !== undefined && keysMatch(loadPrivateKey(pem), grant.certificate.publicKey);
      } catch {
        return false;
      }
    });
    if (!slot || !keysMatch(key, grant.certificate.publicKey)) throw new AgentError("state_invalid", `The key this certificate was issued for is no longer in ${this.dir}; the certificate was not stored.`);
    if (slot === "current") this.#keepPrevious();
    writeFileAtomic(this.path(`${slot}.crt`), grant.certificatePem, 0o644);
    if (slot === "next") this.#crashPoint("after-next-crt");
    this.storeTrust(grant.trustBundle);
    return slot;
  }

  /** Writes `trust.pem`: the CAs the server's certificate chains to (from a grant or a `renew` push). */
  storeTrust(pem: string): void {
    writeFileAtomic(this.path("trust.pem"), pem, 0o644);
  }

  /** `trust.pem`, when the server sent one. */
  trust(): Buffer | undefined {
    return this.#read("trust.pem");
  }

  /**
   * Makes `pair` the current one, after a session with it was welcomed: `current.crt` →
   * `previous.crt`, then the key, then the certificate renamed into `current.*`. A crash between
   * any two steps leaves a pair `load` finds (the certificate pairs with the key file it matches).
   */
  promote(pair: IdentityPair): void {
    if (pair.certSlot === "current" && pair.keySlot === "current") return;
    if (pair.certSlot === "next") this.#keepPrevious();
    this.#crashPoint("after-previous-crt");
    if (pair.keySlot === "next") renameSync(this.path("next.key"), this.path("current.key"));
    this.#crashPoint("after-key-promoted");
    if (pair.certSlot === "next") renameSync(this.path("next.crt"), this.path("current.crt"));
  }

  /** Drops an unfinished renewal (`next.*`); the current pair is untouched. */
  discardNext(): void {
    for (const name of ["next.crt", "next.key"] as const) {
      try {
        unlinkSync(this.path(name));
      } catch {
        // already gone
      }
    }
  }

  /** Whether any identity file exists (an agent that has started enrolling). */
  exists(): boolean {
    return slots.some((slot) => existsSync(this.path(`${slot}.key`)));
  }

  #keepPrevious(): void {
    const current = this.#read("current.crt");
    if (current) writeFileAtomic(this.path("previous.crt"), current, 0o644);
  }

  #read(name: `${Slot}.key` | `${Slot}.crt` | "trust.pem"): Buffer | undefined {
    try {
      return readFileSync(this.path(name));
    } catch {
      return undefined;
    }
  }

  #crashPoint(point: CrashPoint): void {
    if (this.#crashAt === point) process.kill(process.pid, "SIGKILL");
  }
}
