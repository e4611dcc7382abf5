import type { KeyObject } from "node:crypto";
import { PkiError, parseCsr, parsePem, spkiSha256 } from "@pier/pki";
import { type CertificateGrant, identityLimits } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { Environment, Store } from "../store/index.ts";
import type { DeviceCa } from "./device-ca.ts";

/** A CSR a device sent to enroll, its self-signature checked (proof that it holds the key). */
export interface EnrollmentCsr {
  readonly der: Buffer;
  /** Hex SHA-256 of the key's SubjectPublicKeyInfo: what the Waiting Room shows. */
  readonly keySha256: string;
  readonly publicKey: KeyObject;
}

/**
 * Reads `hello.csr` (or the renewal body's `csr`, named by `field`) (PEM PKCS#10): one `CERTIFICATE REQUEST` block within the protocol's size
 * limit, whose signature verifies with its own key. Refuses anything else with `bad_request`
 * naming the field `csr`. Only the key is used; the names the CSR asks for are ignored
 * (docs/pki.md "CSR policy").
 *
 * @example
 * const { keySha256 } = readEnrollmentCsr(hello.csr);
 */
export function readEnrollmentCsr(pem: string, field = "hello.csr"): EnrollmentCsr {
  const refuse = (problem: string, cause?: unknown) =>
    new ServerError("bad_request", `${field} ${problem}`, { field: "csr", fix: "Send one PEM CERTIFICATE REQUEST made with the device's own key (the agent makes it by itself; clear DATA/identity to make a new one).", ...(cause === undefined ? {} : { cause }) });
  if (Buffer.byteLength(pem) > identityLimits.csrPem) throw refuse(`exceeds ${identityLimits.csrPem} bytes.`);
  let blocks;
  try {
    blocks = parsePem(pem);
  } catch (error) {
    throw refuse("is not PEM.", error);
  }
  const [block] = blocks;
  if (blocks.length !== 1 || block?.label !== "CERTIFICATE REQUEST") throw refuse("must be exactly one PEM CERTIFICATE REQUEST block.");
  return checkCsr(block.der, refuse);
}

function checkCsr(der: Buffer, refuse: (problem: string, cause?: unknown) => ServerError): EnrollmentCsr {
  let csr;
  try {
    csr = parseCsr(der);
  } catch (error) {
    throw refuse(`is not a certificate signing request: ${error instanceof PkiError ? error.message : "it cannot be read"}`, error);
  }
  if (!csr.signatureValid) throw refuse("has a signature that does not verify with its own key: it was altered, or not made by the holder of the key.");
  return { der, keySha256: spkiSha256(csr.publicKey), publicKey: csr.publicKey };
}

/** How to build an `Enrollment`. */
export interface EnrollmentOptions {
  readonly store: Store;
  /** The device CA of the built-in flow, or `undefined` when devices bring their own certificates (operator mTLS, `--sslcert`). */
  readonly deviceCa: () => DeviceCa | undefined;
}

/**
 * Zero-touch enrollment with the built-in CA (docs/identity.md "States", waiting → issued):
 * keeps the CSR a waiting device sent, issues for its key once an administrator associated the
 * device (or at once with `trustOnFirstConnect`), and delivers the certificate again to the
 * same key if the device asks before it used it. One issuance per environment at a time.
 */
export class Enrollment {
  readonly #store: Store;
  readonly #deviceCa: () => DeviceCa | undefined;
  readonly #issuing = new Map<number, Promise<CertificateGrant | undefined>>();

  constructor(options: EnrollmentOptions) {
    this.#store = options.store;
    this.#deviceCa = options.deviceCa;
  }

  /** Whether the built-in flow is on: hellos' CSRs are read and certificates issued. */
  get active(): boolean {
    return this.#deviceCa() !== undefined;
  }

  /** The device CA, when the built-in flow is on. */
  get deviceCa(): DeviceCa | undefined {
    return this.#deviceCa();
  }

  /**
   * A device without a certificate sent `csr` with its hello: keeps it on the environment
   * (audited once per key) and, when the environment is already associated, issues now.
   * Returns the certificate to put in the welcome, if one was issued.
   */
  async received(environment: Environment, csr: EnrollmentCsr, sourceAddress: string): Promise<{ environment: Environment; grant?: CertificateGrant }> {
    let current = environment;
    if (current.identity?.kind === "certificate") return { environment: current };
    if (current.enrollmentKeySha256 !== csr.keySha256 || current.enrollmentCsr === null) {
      current = await this.#store.environments.update(current.id, { enrollmentCsr: csr.der, enrollmentKeySha256: csr.keySha256 });
      await this.#store.audit.append({ kind: "enrollment_requested", environmentId: current.id, edgeId: current.edgeId, sourceAddress, detail: { keySha256: csr.keySha256, waiting: !current.userTrusted } });
    }
    if (!current.userTrusted) return { environment: current };
    const grant = await this.issuePending(current.id, sourceAddress);
    return { environment: (await this.#store.environments.get(current.id)) ?? current, ...(grant ? { grant } : {}) };
  }

  /**
   * Issues for the CSR an associated environment holds, once: the CSR is cleared and the
   * environment's binding becomes the certificate (identity kind `certificate`), so its device
   * token no longer admits it. `undefined` when there is nothing to issue (no CSR, waiting, not
   * the built-in flow).
   */
  issuePending(environmentId: number, sourceAddress?: string): Promise<CertificateGrant | undefined> {
    const running = this.#issuing.get(environmentId);
    if (running) return running.then(() => undefined);
    const work = this.#issue(environmentId, sourceAddress).finally(() => this.#issuing.delete(environmentId));
    this.#issuing.set(environmentId, work);
    return work;
  }

  /**
   * The certificate issued to this key and not yet revoked or expired, for a device that asks
   * again (its welcome was lost, or it polled after an offline association); `undefined` when
   * there is none, and nothing is issued.
   */
  async redelivery(environment: Environment, csr: EnrollmentCsr, now = new Date()): Promise<CertificateGrant | undefined> {
    if (environment.identity?.kind !== "certificate" || environment.identity.value !== csr.keySha256) return undefined;
    return this.issuedGrant(environment, now);
  }

  /**
   * The certificate issued to the key the environment is bound to, not yet revoked or expired:
   * for a session opened without a certificate whose association issued one on another replica
   * (that replica's `issuePending` took the CSR). `undefined` when there is none.
   */
  async issuedGrant(environment: Environment, now = new Date()): Promise<CertificateGrant | undefined> {
    const deviceCa = this.#deviceCa();
    const identity = environment.identity;
    if (!deviceCa || identity?.kind !== "certificate") return undefined;
    const issued = await this.#store.certificates.listByEnvironment(environment.id);
    const latest = issued.find((record) => record.spkiSha256 === identity.value && record.revokedAt === null && record.notAfter > now && record.certificatePem !== "");
    return latest ? deviceCa.grantFor(latest) : undefined;
  }

  async #issue(environmentId: number, sourceAddress: string | undefined): Promise<CertificateGrant | undefined> {
    const deviceCa = this.#deviceCa();
    const environment = await this.#store.environments.get(environmentId);
    if (!deviceCa || !environment?.userTrusted || environment.enrollmentCsr === null || environment.edgeId === null) return undefined;
    const { publicKey } = checkCsr(environment.enrollmentCsr, (problem) => new ServerError("store_failed", `The enrollment CSR stored for environment ${environmentId} ${problem}`));
    // A device back from an expired certificate (identity/reenrollment.ts) is re-issued, and no longer shown as expired.
    const reason = environment.reenrollment ? "reissue" : "enrollment";
    const { record, grant } = await deviceCa.issue({ environmentId, edgeId: environment.edgeId, publicKey, reason, ...(sourceAddress === undefined ? {} : { sourceAddress }) });
    await this.#store.environments.update(environmentId, { enrollmentCsr: null, identity: { kind: "certificate", value: record.spkiSha256 }, ...(environment.reenrollment ? { reenrollment: null } : {}) });
    return grant;
  }
}
