import type { KeyObject, X509Certificate } from "node:crypto";
import { PkiError } from "@pier/pki";
import type { CertificateGrant } from "@pier/protocol";
import { RateLimiter } from "../auth/rate-limiter.ts";
import { ServerError, type ServerErrorCode } from "../errors.ts";
import { sourceKey } from "../net/source-key.ts";
import type { Environment, Store } from "../store/index.ts";
import { certificateName } from "./certificate-binding.ts";
import type { DeviceCa } from "./device-ca.ts";
import { readEnrollmentCsr } from "./enrollment.ts";
import { OnePerTurn } from "./one-per-turn.ts";
import type { RenewalThrottle } from "./renewal-throttle.ts";

/** Who asks for a renewal: what the TLS handshake of its connection established. */
export interface RenewalCaller {
  /** True when the client certificate verified against the listener's client CAs. */
  readonly authorized: boolean;
  readonly peerCertificate?: X509Certificate;
  readonly remoteAddress: string;
}

/** Options of `CertificateRenewal`. */
export interface CertificateRenewalOptions {
  readonly store: Store;
  /** The built-in CA's issuer; `undefined` while the server has none in use (operator mTLS). */
  readonly deviceCa: () => Pick<DeviceCa, "authorityOf" | "issue" | "issuing"> | undefined;
  /** Revoked certificates, in memory (no store read per request). */
  readonly revocations?: { isRevoked(certificate: X509Certificate): boolean };
  readonly throttle: RenewalThrottle;
  readonly log?: (level: "debug" | "info" | "warn", message: string) => void;
  /** Told of each renewal answered: `renewed`, or why it was refused (metrics). */
  readonly onOutcome?: (outcome: "renewed" | RenewalFailure) => void;
}

/** Why a renewal was refused, as the audit records it (`certificate_renewal_failed` {reason}). */
export type RenewalFailure = "no_certificate" | "not_built_in_ca" | "revoked" | "no_device_name" | "unknown_device" | "not_recorded" | "waiting" | "bad_csr" | "issuance_failed";

/** The device a certificate of the built-in CA names (its `spiffe://…/edge/<EDGE_ID>` URI SAN). */
function deviceNameOf(certificate: X509Certificate): string | undefined {
  return certificateName(certificate, { bindCommonName: false, pierIssued: true })?.edgeId;
}

class RenewalRefused extends ServerError {
  readonly reason: RenewalFailure;
  constructor(reason: RenewalFailure, code: ServerErrorCode, message: string, fix: string, cause?: unknown) {
    super(code, message, { fix, details: { reason }, ...(reason === "bad_csr" ? { field: "csr" } : {}), ...(cause === undefined ? {} : { cause }) });
    this.reason = reason;
  }
}

/**
 * `POST /api/edge/v1/certificate/renew` (docs/identity.md, "Renewal"): a device presenting a
 * valid certificate of the built-in CA gets a new one for the key of its CSR. The new
 * certificate names the device the server has on record for the presented certificate — the
 * CSR contributes its key only, after its self-signature verifies. Renewals are spread by a
 * `RenewalThrottle` (429 with `Retry-After`); refusals are audited as
 * `certificate_renewal_failed` (at most 20 per source, then one every 3 s).
 *
 * @example
 * const renewal = new CertificateRenewal({ store, deviceCa: () => deviceCa, throttle: new RenewalThrottle({ renewalsPerSecond: 50 }) });
 * const grant = await renewal.renew({ authorized: true, peerCertificate, remoteAddress }, csrPem);
 */
export class CertificateRenewal {
  readonly #options: CertificateRenewalOptions;
  readonly #refusalAudit = new RateLimiter({ capacity: 20, refillIntervalMs: 3_000 });
  /** One renewal (or refusal) per event-loop turn, so a burst never holds heartbeats back. */
  readonly #turns = new OnePerTurn();

  constructor(options: CertificateRenewalOptions) {
    this.#options = options;
  }

  /** Issues the renewed certificate and returns its grant; throws `ServerError` otherwise. */
  renew(caller: RenewalCaller, csrPem: string): Promise<CertificateGrant> {
    return this.#turns.run(() => this.#renew(caller, csrPem));
  }

  async #renew(caller: RenewalCaller, csrPem: string): Promise<CertificateGrant> {
    let environment: Environment | undefined;
    try {
      const { environment: found, presented, authority } = await this.#device(caller);
      environment = found;
      const publicKey = readCsr(csrPem);
      const lifetimeSeconds = Math.max(1, (presented.validToDate.getTime() - presented.validFromDate.getTime()) / 1000);
      // A certificate from a CA the fleet is moving away from (rotation, rollback) is renewed
      // whatever this device renewed lately: the per-device limit would strand it for days.
      const ca = this.#options.deviceCa();
      const moving = ca !== undefined && authority !== ca.issuing;
      const decision = this.#options.throttle.take(String(found.id), lifetimeSeconds, { perDeviceLimit: !moving });
      if (!decision.allowed) {
        const why = decision.limit === "fleet" ? `the server renews at most ${this.#options.throttle.renewalsPerSecond} certificates a second and ${decision.backlog} devices wait` : `this device renewed three times within a third of its certificate's lifetime`;
        this.#options.log?.("debug", `renewal of ${found.edgeId} from ${caller.remoteAddress} deferred ${decision.retryAfterSeconds} s: ${why}`);
        throw new ServerError("too_many_requests", `Renewal deferred: ${why}. Ask again in ${decision.retryAfterSeconds} s; the current certificate stays valid meanwhile.`, {
          fix: `Retry after ${decision.retryAfterSeconds} s (the agent does so by itself).`,
          details: { retryAfterSeconds: decision.retryAfterSeconds, limit: decision.limit },
        });
      }
      if (!ca) throw new RenewalRefused("not_built_in_ca", "forbidden", "This server no longer issues device certificates (its built-in CA is not in use).", "Use the operator CA's process to renew this certificate.");
      let issued;
      try {
        issued = await ca.issue({ environmentId: found.id, edgeId: found.edgeId, publicKey, reason: "renewal", sourceAddress: caller.remoteAddress });
      } catch (error) {
        if (error instanceof ServerError) throw new RenewalRefused("issuance_failed", error.code, error.message, error.fix ?? "Retry later; the current certificate stays valid meanwhile.");
        if (error instanceof PkiError) throw new RenewalRefused("bad_csr", "bad_request", `The CSR's key cannot be certified: ${error.message}`, "Make a new ECDSA P-256 key and CSR and send it again.", error);
        throw error;
      }
      const oldSerial = presented.serialNumber.toLowerCase();
      await this.#options.store.audit.append({
        kind: "certificate_renewed",
        environmentId: found.id,
        edgeId: found.edgeId,
        sourceAddress: caller.remoteAddress,
        detail: { oldSerial, newSerial: issued.record.serial, notAfter: issued.record.notAfter.toISOString() },
      });
      this.#options.onOutcome?.("renewed");
      this.#options.log?.("info", `certificate of ${found.edgeId} renewed from ${caller.remoteAddress}: ${oldSerial} → ${issued.record.serial} (until ${issued.record.notAfter.toISOString()})`);
      return issued.grant;
    } catch (error) {
      if (error instanceof RenewalRefused) {
        this.#options.onOutcome?.(error.reason);
        await this.#auditRefusal(caller, environment, error);
      }
      throw error;
    }
  }

  /** The environment the presented certificate names, once everything about it checks out. */
  async #device(caller: RenewalCaller): Promise<{ environment: Environment & { edgeId: string }; presented: X509Certificate; authority: ReturnType<DeviceCa["authorityOf"]> }> {
    const presented = caller.peerCertificate;
    if (!presented || !caller.authorized) {
      throw new RenewalRefused("no_certificate", "forbidden", "A renewal is made over mutual TLS with the device's current, valid certificate; this connection presented none that verified.", "Post the renewal on the device's mTLS session; a device whose certificate expired re-enrolls through its hello.");
    }
    const authority = this.#options.deviceCa()?.authorityOf(presented);
    if (!authority) {
      throw new RenewalRefused("not_built_in_ca", "forbidden", "Only certificates of Pier's built-in CA are renewed here; this one comes from another CA.", "Renew it with the CA that issued it (the operator's process).");
    }
    const serial = presented.serialNumber.toLowerCase();
    if (this.#options.revocations?.isRevoked(presented)) {
      throw new RenewalRefused("revoked", "forbidden", `Certificate ${serial} was revoked; it cannot be renewed.`, "Ask the administrator; to enroll again the environment must be removed and the device's identity cleared.");
    }
    const edgeId = deviceNameOf(presented);
    if (!edgeId) throw new RenewalRefused("no_device_name", "forbidden", `Certificate ${serial} names no device (no spiffe://…/edge/<EDGE_ID> URI SAN).`, "Enroll the device through the waiting room to get a device certificate.");
    const environment = await this.#options.store.environments.getByEdgeId(edgeId);
    if (!environment) {
      throw new RenewalRefused("unknown_device", "forbidden", `No environment has EDGE_ID ${edgeId} any more (removed?); certificate ${serial} is not renewed.`, "Enroll the device again through the waiting room.");
    }
    const record = await this.#options.store.certificates.get(serial);
    if (!record || record.environmentId !== environment.id || record.revokedAt !== null) {
      const why = !record ? "was not issued by this server to a device" : record.revokedAt !== null ? "was revoked" : "was issued to an environment that no longer exists";
      throw new RenewalRefused(record?.revokedAt ? "revoked" : "not_recorded", "forbidden", `Certificate ${serial} ${why}; it is not renewed.`, "Enroll the device again through the waiting room.");
    }
    if (!environment.userTrusted) {
      throw new RenewalRefused("waiting", "forbidden", `Environment ${environment.id} (${edgeId}) waits in the waiting room; its certificate is renewed once an administrator associates it.`, "Associate the device in Pier (Environments → Waiting Room).");
    }
    return { environment: { ...environment, edgeId }, presented, authority };
  }

  async #auditRefusal(caller: RenewalCaller, environment: Environment | undefined, refusal: RenewalRefused): Promise<void> {
    this.#options.log?.("warn", `renewal from ${caller.remoteAddress} refused: ${refusal.message}`);
    if (!this.#refusalAudit.take(sourceKey(caller.remoteAddress)).allowed) return;
    const presented = caller.peerCertificate;
    await this.#options.store.audit.append({
      kind: "certificate_renewal_failed",
      environmentId: environment?.id ?? null,
      edgeId: environment?.edgeId ?? (presented ? (deviceNameOf(presented) ?? null) : null),
      sourceAddress: caller.remoteAddress,
      detail: { reason: refusal.reason, message: refusal.message, serial: presented?.serialNumber.toLowerCase() ?? null, subject: presented?.subject.replace(/\n/g, ", ") ?? null },
    });
  }
}

/** The key of a PEM CSR whose self-signature verifies; `bad_request` naming the field `csr` otherwise. */
function readCsr(csrPem: string): KeyObject {
  try {
    return readEnrollmentCsr(csrPem, "The renewal's csr").publicKey;
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    throw new RenewalRefused("bad_csr", "bad_request", error.message, "Send a PEM PKCS#10 request signed by the new key (-----BEGIN CERTIFICATE REQUEST-----).", error);
  }
}
