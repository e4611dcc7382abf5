import type { X509Certificate } from "node:crypto";
import type { CertificateGrant, Hello } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { Environment, Settings, Store } from "../store/index.ts";
import { certificateName } from "./certificate-binding.ts";
import { type Enrollment, readEnrollmentCsr } from "./enrollment.ts";

/** The connection of a hello that presented an expired certificate of the built-in CA. */
export interface ExpiredConnection {
  readonly sourceAddress: string;
  readonly peerCertificate: X509Certificate;
  /** The verification error the edge routes let through (`CERT_HAS_EXPIRED`). */
  readonly peerCertificateError: string;
}

/** What the hello is answered with. */
export interface ReenrollmentOutcome {
  readonly environment: Environment;
  /** A certificate to put in the welcome (re-issued at once, or issued while the device was away). */
  readonly grant?: CertificateGrant;
  /** Answer the welcome and close: the device reconnects with the certificate it carries. */
  readonly deliverOnly: boolean;
}

/** Options of `Reenrollment`. */
export interface ReenrollmentOptions {
  readonly store: Store;
  readonly enrollment: Enrollment;
  /** Revoked certificates, in memory; the store's `revoked_at` is checked as well. */
  readonly revocations?: { isRevoked(certificate: X509Certificate): boolean };
  readonly log?: (level: "debug" | "info" | "warn", message: string) => void;
}

/**
 * A device whose built-in-CA certificate expired while it was offline (docs/identity.md, state
 * "expired"). The TLS handshake proved it holds that certificate's key, so its hello (with a
 * new CSR) puts it back in the waiting room as "expired, same key as <serial>": `userTrusted`
 * false, `reenrollment {previousSerial, sameKey: true, at}`, the CSR kept; association then
 * issues for the CSR's key. With the setting `autoReissueWithinSeconds`, a device associated
 * until then whose certificate expired less than that long ago is re-issued at once. A
 * certificate this server has no record of, whose environment is gone, or that was revoked is
 * refused.
 *
 * @example
 * const outcome = await reenrollment.hello(hello, { sourceAddress, peerCertificate, peerCertificateError: "CERT_HAS_EXPIRED" }, settings);
 */
export class Reenrollment {
  readonly #options: ReenrollmentOptions;

  constructor(options: ReenrollmentOptions) {
    this.#options = options;
  }

  async hello(hello: Hello, connection: ExpiredConnection, settings: Settings, now = new Date()): Promise<ReenrollmentOutcome> {
    const { store, enrollment } = this.#options;
    const certificate = connection.peerCertificate;
    const serial = certificate.serialNumber.toLowerCase();
    const edgeId = hello.agent.edgeId;
    const refuse = (why: string, fix = "Ask the administrator to remove the environment, clear DATA/identity on the device and enroll it again.") => {
      this.#options.log?.("warn", `re-enrollment of ${edgeId} from ${connection.sourceAddress} with expired certificate ${serial} refused: ${why}`);
      return new ServerError("forbidden", `The client certificate ${serial} presented for ${edgeId} has expired, and ${why}`, { fix });
    };
    const deviceCa = enrollment.deviceCa;
    if (connection.peerCertificateError !== "CERT_HAS_EXPIRED" || !deviceCa?.authorityOf(certificate)) throw refuse(`it is not a certificate this server can re-enroll (${connection.peerCertificateError}).`);
    const named = certificateName(certificate, { bindCommonName: false, pierIssued: true });
    if (named?.edgeId !== edgeId) throw refuse(`it names ${named?.edgeId ?? "no device"}, not ${edgeId}.`, `Start the agent with the EDGE_ID its certificate names${named ? ` (${named.edgeId})` : ""}.`);
    const [record, environment] = await Promise.all([store.certificates.get(serial), store.environments.getByEdgeId(edgeId)]);
    if (!environment || !record || record.environmentId !== environment.id) throw refuse("no environment this server knows holds it (the device was removed).");
    if (record.revokedAt !== null || this.#options.revocations?.isRevoked(certificate)) throw refuse("it was revoked: a revoked device cannot re-enroll.");
    if (hello.csr === undefined) {
      throw new ServerError("bad_request", `The client certificate ${serial} has expired; to re-enroll, the hello must carry a CSR for the device's key.`, { field: "csr", fix: "Upgrade the agent: it sends a CSR with its expired certificate by itself." });
    }
    const csr = readEnrollmentCsr(hello.csr);
    // Associated meanwhile (or auto re-issued on an earlier hello): deliver what was issued to this key.
    const redelivered = await enrollment.redelivery(environment, csr, now);
    if (redelivered) return { environment, grant: redelivered, deliverOnly: true };

    const expiredSeconds = (now.getTime() - certificate.validToDate.getTime()) / 1000;
    const window = settings.autoReissueWithinSeconds ?? 0;
    if (environment.userTrusted && window > 0 && expiredSeconds < window) {
      const issued = await deviceCa.issue({ environmentId: environment.id, edgeId, publicKey: csr.publicKey, reason: "reissue", sourceAddress: connection.sourceAddress });
      const updated = await store.environments.update(environment.id, { identity: { kind: "certificate", value: issued.record.spkiSha256 }, enrollmentCsr: null, enrollmentKeySha256: csr.keySha256, reenrollment: null, sourceAddress: connection.sourceAddress, lastCheckInAt: now });
      await store.audit.append({
        kind: "certificate_reissued",
        environmentId: environment.id,
        edgeId,
        sourceAddress: connection.sourceAddress,
        detail: { previousSerial: serial, newSerial: issued.record.serial, expiredSecondsAgo: Math.round(expiredSeconds), autoReissueWithinSeconds: window },
      });
      this.#options.log?.("info", `environment ${environment.id} (${edgeId}): certificate ${serial} expired ${Math.round(expiredSeconds)} s ago (within AutoReissueWithinSeconds ${window}): re-issued ${issued.record.serial}`);
      return { environment: updated, grant: issued.grant, deliverOnly: true };
    }

    // Back to the waiting room; a reconnect that changes nothing writes nothing.
    const known = environment.reenrollment;
    if (!environment.userTrusted && known?.previousSerial === serial && environment.enrollmentKeySha256 === csr.keySha256 && environment.enrollmentCsr !== null) return { environment, deliverOnly: false };
    const updated = await store.environments.update(environment.id, {
      userTrusted: false,
      enrollmentCsr: csr.der,
      enrollmentKeySha256: csr.keySha256,
      reenrollment: { previousSerial: serial, sameKey: true, at: now },
      sourceAddress: connection.sourceAddress,
      lastCheckInAt: now,
    });
    await store.audit.append({
      kind: "reenrollment_requested",
      environmentId: environment.id,
      edgeId,
      sourceAddress: connection.sourceAddress,
      detail: { previousSerial: serial, expiredAt: certificate.validToDate.toISOString(), sameKey: true, keySha256: csr.keySha256, autoReissueWithinSeconds: window },
    });
    this.#options.log?.("info", `environment ${environment.id} (${edgeId}) is back in the waiting room: its certificate ${serial} expired ${certificate.validToDate.toISOString()} (same key; associate it to issue a new one)`);
    return { environment: updated, deliverOnly: false };
  }
}
