import type { KeyObject } from "node:crypto";
import type { CertificateGrant, RenewMessage } from "@pier/protocol";
import { refusedCodes } from "@pier/protocol/wire";
import type { ClientIdentity } from "../dial.ts";
import { writeFailure } from "../disk-full.ts";
import { AgentError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { ServerClock } from "../server-clock.ts";
import { deviceCsr, keyFingerprint } from "./csr.ts";
import { checkGrant } from "./grant.ts";
import { pushedRenewalTime, renewalTime } from "./renewal.ts";
import type { IdentityStore} from "./store.ts";
import { type IdentityPair } from "./store.ts";

/** What one connection presents: a pair, a CSR, or both (an expired pair re-enrolling with a CSR for its key). */
export interface DialPlan {
  readonly pair?: IdentityPair;
  readonly csr?: string;
  /** The key the CSR is for: a grant on this connection must be for it. */
  readonly csrKey?: KeyObject;
}

/** Serial of a certificate as the server and `openssl x509 -serial` show it (lowercase hex). */
export function serialOf(pair: IdentityPair): string {
  return pair.certificate.serialNumber.toLowerCase();
}

const certificateRefusals = new Set<string>([refusedCodes.revoked, refusedCodes.expired, "ca_retired", "forbidden", "unauthorized", "http_401", "http_403", "tls_alert", "closed_before_answer", "issued_certificate_refused"]);

/**
 * Refusals that are about the certificate a connection presented: the server's `refused` codes
 * and 401/403 answers, a TLS alert, or a connection closed right after the handshake (how a
 * Node server refuses a client certificate). A network failure or a 429/503 is not one.
 */
export function isCertificateRefusal(code: string): boolean {
  return certificateRefusals.has(code) || code.startsWith("client_certificate_");
}

/** One line about a certificate for the log: subject, serial, issuer and validity. */
export function describePair(pair: IdentityPair): string {
  const oneLine = (name: string) => name.replaceAll("\n", ", ");
  return `${oneLine(pair.certificate.subject)} (serial ${serialOf(pair)}, issued by ${oneLine(pair.certificate.issuer)}, valid until ${pair.notAfter.toISOString()})`;
}

/**
 * The device's identity in Pier's built-in flow (docs/identity.md): which pair or CSR each
 * connection presents, what to do with a certificate the server grants, when to renew. The
 * files are `IdentityStore`'s; the sessions are the agent's.
 *
 * @example
 * const identity = new DeviceIdentity(new IdentityStore(dataDir), edgeId, log);
 * const plan = identity.plan();
 */
export class DeviceIdentity {
  readonly store: IdentityStore;
  readonly #edgeId: string;
  readonly #log: Logger;
  /** CSR per key fingerprint: the same key gives the same CSR, so the Waiting Room sees one. */
  readonly #csrs = new Map<string, string>();
  /** Fingerprints already logged, so a waiting device says its fingerprint once, not every check-in. */
  readonly #announced = new Set<string>();
  /** The server's time as the device knows it: certificates are judged by it (docs/identity.md "Clock skew"). */
  readonly clock: ServerClock;
  /** The renewal moment of the pair in use in the server's time, drawn once per certificate (the jitter is random). */
  #schedule: { serial: string; at: Date } | undefined;
  /**
   * When each certificate stored by this process arrived, in the server's time: renewal counts
   * the lifetime from there. A certificate stored before a restart counts from its file's mtime
   * (this device's clock, converted), which a clock set meanwhile makes less exact.
   */
  readonly #receivedAt = new Map<string, Date>();
  /** A moment the server asked for (`renew {withinSeconds}`), earlier than the schedule. */
  #pushedAt: Date | undefined;
  /** Aborted when the server pushes `renew`, to wake a renewal waiting for its moment. */
  #wake = new AbortController();

  constructor(store: IdentityStore, edgeId: string, log: Logger, clock = new ServerClock()) {
    this.store = store;
    this.#edgeId = edgeId;
    this.#log = log;
    this.clock = clock;
  }

  /** The server's time now, as the device knows it. */
  #now(): Date {
    return new Date(this.clock.now());
  }

  /**
   * What the next connection presents: the newest unexpired pair; else an expired pair with a
   * CSR for its key (the server re-enrolls it through the Waiting Room); else a CSR for the
   * enrollment key.
   */
  plan(): DialPlan {
    const { usable, expired } = this.store.load(this.#now());
    if (usable) return { pair: usable };
    const key = expired?.key ?? this.store.enrollmentKey();
    const fingerprint = keyFingerprint(key);
    let csr = this.#csrs.get(fingerprint);
    if (csr === undefined) {
      csr = deviceCsr(key, this.#edgeId);
      this.#csrs.set(fingerprint, csr);
    }
    if (!this.#announced.has(fingerprint)) {
      this.#announced.add(fingerprint);
      const why = expired
        ? `this device's certificate ${describePair(expired)} has expired: the agent presents it with a request for a new certificate for the same key, and the server puts the device back in the Waiting Room as "expired, same key as ${serialOf(expired)}" until an administrator associates it again.`
        : "this device has no certificate yet: it enrolls with Pier's built-in CA and waits in the Waiting Room.";
      this.#log.log("info", `${why} Its key fingerprint (SPKI SHA-256) is ${fingerprint}; the Waiting Room shows the fingerprint of the key each device presents: compare them before associating. The key stays in ${this.store.dir}.`);
    }
    return { ...(expired ? { pair: expired } : {}), csr, csrKey: key };
  }

  /** The TLS client material of `plan`, with `trust.pem`. */
  clientIdentity(plan: DialPlan): ClientIdentity | undefined {
    if (!plan.pair) return undefined;
    const trust = this.store.trust();
    return { cert: plan.pair.certPem, key: plan.pair.keyPem, ...(trust ? { trust } : {}) };
  }

  /**
   * A certificate the server granted on the connection of `plan` (`certificate` frame, or
   * `welcome.certificate`): checked against the key whose CSR we sent, then stored. True when
   * it was stored and the agent should reconnect with it at once.
   */
  acceptGrant(grant: CertificateGrant, plan: DialPlan): boolean {
    if (!plan.csrKey) {
      this.#log.log("warn", "the server sent a certificate, but this connection asked for none; it was ignored.");
      return false;
    }
    try {
      const checked = checkGrant(grant, plan.csrKey);
      this.store.storeGrant(checked, plan.csrKey);
      this.#receivedAt.set(checked.certificate.serialNumber.toLowerCase(), this.#now());
      const serial = checked.certificate.serialNumber.toLowerCase();
      this.#log.log("info", `the server issued this device's certificate: ${checked.certificate.subject.replaceAll("\n", ", ")}, serial ${serial}, valid until ${new Date(checked.certificate.validTo).toISOString()}; stored in ${this.store.dir} with the server's trust bundle. Reconnecting with mutual TLS.`);
      return true;
    } catch (error) {
      this.#log.log("error", error instanceof AgentError ? error.message : `the certificate the server issued could not be stored: ${writeFailure("the certificate", this.store.dir, error)}`);
      return false;
    }
  }

  /** A renewal's grant, for `next.key`: checked, then stored as `next.crt`. True when stored. */
  acceptRenewal(grant: CertificateGrant, key: KeyObject): boolean {
    try {
      const checked = checkGrant(grant, key);
      this.store.storeGrant(checked, key);
      this.#receivedAt.set(checked.certificate.serialNumber.toLowerCase(), this.#now());
      this.#log.log("info", `certificate renewed: ${checked.certificate.subject.replaceAll("\n", ", ")}, serial ${checked.certificate.serialNumber.toLowerCase()}, valid until ${new Date(checked.certificate.validTo).toISOString()}; opening a session with it before closing the current one.`);
      return true;
    } catch (error) {
      this.store.discardNext();
      this.#log.log("error", error instanceof AgentError ? error.message : `the renewed certificate could not be stored: ${writeFailure("the renewed certificate (next.crt)", this.store.dir, error)} The current certificate stays in use.`);
      return false;
    }
  }

  /**
   * The server refused a connection presenting `pair` for its certificate (`code`, see
   * `isCertificateRefusal`). When `pair` is a renewed pair still in `next.*` (a renewal that
   * completed but was never welcomed: the agent stopped before its session opened) and
   * `current.*` holds an unexpired pair, `next.*` is deleted, said once, and true returned: the
   * next connection presents `current`, which the server may still accept (the renewed
   * certificate may have been revoked, issued by a CA a rollback dropped, or be unknown to a
   * server restored from a backup). The agent renews again on `current`'s schedule.
   */
  refusedNext(pair: IdentityPair | undefined, code: string): boolean {
    if (!pair || pair.certSlot !== "next" || !isCertificateRefusal(code)) return false;
    const held = this.store.load(this.#now()).usable;
    if (held?.certSlot !== "next" || serialOf(held) !== serialOf(pair)) return false;
    const current = this.store.currentPair(this.#now());
    if (!current || serialOf(current) === serialOf(pair)) return false;
    this.store.discardNext();
    this.#log.log(
      "warn",
      `the server refused the renewed certificate ${describePair(pair)} (${code}); it was deleted with its key from ${this.store.dir}, and the agent falls back to the current certificate ${describePair(current)}, which it renews again when due. If the server refuses that one too, the log says why.`,
    );
    return true;
  }

  /** A connection presenting `plan` was welcomed: a renewed pair (`next.*`) becomes the current one. */
  welcomed(plan: DialPlan): void {
    const pair = plan.pair;
    if (!pair || plan.csr !== undefined || (pair.certSlot === "current" && pair.keySlot === "current")) return;
    this.store.promote(pair);
    this.#pushedAt = undefined;
    this.#log.log("info", `now using the renewed certificate ${describePair(pair)}; the previous one is kept as ${this.store.path("previous.crt")}.`);
  }

  /**
   * Whether a connection that presented `plan` should be made again now that the server's time
   * is known: by it, the pair it presented as expired (with a CSR) is valid, or the one it
   * presented as valid has expired (docs/identity.md "Clock skew").
   */
  planOutdated(plan: DialPlan): boolean {
    if (!plan.pair) return false;
    const { usable } = this.store.load(this.#now());
    return plan.csr !== undefined ? usable !== undefined : usable === undefined;
  }

  /**
   * When to renew `pair`, on this device's clock (for its timers): its schedule (⅔ of the
   * lifetime plus jitter, counted in the server's time), or earlier if the server asked.
   */
  renewalDue(pair: IdentityPair): Date {
    const serial = serialOf(pair);
    // The certificate's dates are the server's; when it was stored (the file's mtime) is this device's.
    const receivedAt = this.#receivedAt.get(serial) ?? this.clock.toServer(pair.receivedAt);
    if (this.#schedule?.serial !== serial) this.#schedule = { serial, at: renewalTime({ notBefore: pair.notBefore, notAfter: pair.notAfter, receivedAt }) };
    const at = this.clock.toLocal(this.#schedule.at);
    return this.#pushedAt && this.#pushedAt < at ? this.#pushedAt : at;
  }

  /** Moves `pair`'s renewal to `at` (this device's clock: a `Retry-After`, a backoff after a failure). */
  renewLater(pair: IdentityPair, at: Date): void {
    this.#schedule = { serial: serialOf(pair), at: this.clock.toServer(at) };
    this.#pushedAt = undefined;
  }

  /** The server pushed `renew`: keep its trust bundle, renew at a random moment within its window. */
  pushed(message: RenewMessage, pair: IdentityPair | undefined): void {
    if (message.trustBundle !== undefined) {
      try {
        this.store.storeTrust(message.trustBundle);
      } catch (error) {
        // The renewal's grant carries the bundle again.
        this.#log.log("error", `the server's trust bundle could not be kept: ${writeFailure("trust.pem", this.store.dir, error)}`);
      }
    }
    this.#pushedAt = pushedRenewalTime(message.withinSeconds, pair ? this.renewalDue(pair) : undefined);
    this.#log.log("info", `the server asks this device to renew its certificate (${message.reason}) within ${message.withinSeconds} s; renewing at ${this.#pushedAt.toISOString()}.`);
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  /** Aborted when the server pushes `renew`. */
  get wakeSignal(): AbortSignal {
    return this.#wake.signal;
  }
}
