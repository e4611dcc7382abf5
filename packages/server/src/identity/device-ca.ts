import type { KeyObject, X509Certificate } from "node:crypto";
import { type CertificateAuthority, type LeafSigner, leafLifetimeLimits, spkiSha256 } from "@pier/pki";
import type { CertificateGrant } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { DeviceCertificate, DeviceCertificateReason, Store } from "../store/index.ts";
import { crlCaId } from "./crl-publisher.ts";

/** The trust domain of device URI SANs when the setting `trustDomain` is unset. */
export const defaultTrustDomain = "pier.local";

/** Device certificates' lifetime when the server is not told otherwise: 30 days. */
export const defaultDeviceCertificateLifetimeSeconds = 30 * 86_400;

/** The URI SAN that names a device: `spiffe://<trust domain>/edge/<EDGE_ID>` (docs/identity.md). */
export function deviceUri(trustDomain: string, edgeId: string): string {
  return `spiffe://${trustDomain}/edge/${edgeId}`;
}

/** The CAs of the built-in flow: the one that issues, and every one whose certificates are accepted. */
export interface DeviceAuthorities {
  readonly issuing: CertificateAuthority;
  /** Includes `issuing`; more than one during a CA rotation. */
  readonly trusted: readonly CertificateAuthority[];
}

/** How to build a `DeviceCa`. */
export interface DeviceCaOptions {
  readonly store: Store;
  readonly authorities: DeviceAuthorities;
  /**
   * `--device-cert-lifetime` in seconds (default 30 days); never past the issuing CA's expiry.
   * Under 60 s only for the end-to-end tests (the CLI allows it with PIER_SERVER_TEST_SHORT_CERTS=1).
   */
  readonly lifetimeSeconds?: number;
  /** The CRL Distribution Point written into each certificate (`<API URL>/api/pki/crl`); none when it resolves to `undefined`. */
  readonly crlUrl: () => Promise<string | undefined>;
  /** PEM of the CAs the server's own (tunnel) certificate chains to; the trusted CAs' PEMs without it. */
  readonly serverTrustBundle?: () => string;
}

/** What to issue: for whom (the server's record of the device, never the CSR), which key, and why. */
export interface DeviceIssueRequest {
  readonly environmentId: number;
  readonly edgeId: string;
  readonly publicKey: KeyObject;
  readonly reason: DeviceCertificateReason;
  /** For the audit. */
  readonly sourceAddress?: string;
}

/** An issued device certificate: the row recorded and what the device receives. */
export interface IssuedDeviceCertificate {
  readonly record: DeviceCertificate;
  readonly grant: CertificateGrant;
}

/**
 * The built-in CA as the issuer of device certificates (docs/identity.md): signs in memory with
 * the CA key loaded once (no write to `DATA/ca`), records each certificate in
 * `device_certificates`, audits `certificate_issued`, and says which CAs the tunnel listener
 * accepts client certificates from. A CA rotation switches the issuing and trusted CAs through
 * `setAuthorities`; listeners registered with `onChange` (the tunnel listener's secure context)
 * follow.
 *
 * @example
 * const deviceCa = await DeviceCa.open({ store, authorities: { issuing: ca, trusted: [ca] }, crlUrl: async () => "https://pier.example:9443/api/pki/crl" });
 * const { grant } = await deviceCa.issue({ environmentId: 7, edgeId: "edge-7", publicKey, reason: "enrollment" });
 */
export class DeviceCa {
  readonly #store: Store;
  readonly #lifetimeSeconds: number;
  readonly #crlUrl: () => Promise<string | undefined>;
  readonly #serverTrustBundle: (() => string) | undefined;
  readonly #listeners = new Set<() => void>();
  #authorities: DeviceAuthorities;
  #signer: LeafSigner;

  private constructor(options: DeviceCaOptions, signer: LeafSigner) {
    this.#store = options.store;
    this.#lifetimeSeconds = options.lifetimeSeconds ?? defaultDeviceCertificateLifetimeSeconds;
    this.#crlUrl = options.crlUrl;
    this.#serverTrustBundle = options.serverTrustBundle;
    this.#authorities = options.authorities;
    this.#signer = signer;
  }

  /** Loads the issuing CA's key once (`CertificateAuthority.deviceSigner`). */
  static async open(options: DeviceCaOptions): Promise<DeviceCa> {
    checkAuthorities(options.authorities);
    return new DeviceCa(options, await options.authorities.issuing.deviceSigner());
  }

  /** The CA that issues new certificates. */
  get issuing(): CertificateAuthority {
    return this.#authorities.issuing;
  }

  /** Every CA whose device certificates are accepted (the issuing one first). */
  get trusted(): readonly CertificateAuthority[] {
    return this.#authorities.trusted;
  }

  /** The lifetime of new certificates, in seconds. */
  get lifetimeSeconds(): number {
    return this.#lifetimeSeconds;
  }

  /**
   * Switches the issuing and trusted CAs (a CA rotation, or its rollback or finish): new
   * certificates come from `issuing` at once, and every `onChange` listener is called (the
   * tunnel listener reloads its client CAs). Throws `config_invalid` when `trusted` lacks `issuing`.
   */
  async setAuthorities(authorities: DeviceAuthorities): Promise<void> {
    checkAuthorities(authorities);
    const signer = await authorities.issuing.deviceSigner();
    this.#authorities = authorities;
    this.#signer = signer;
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after every change of the trusted CAs; returns the function that unregisters it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** PEM of every CA whose device certificates are accepted (the tunnel listener's client CA list). */
  clientTrustBundle(): string {
    return this.#authorities.trusted.map((ca) => ca.certificatePem).join("");
  }

  /** PEM of the CAs the server's certificate chains to, for the agent's `trust.pem`. */
  serverTrustBundle(): string {
    return this.#serverTrustBundle?.() ?? this.clientTrustBundle();
  }

  /** The trusted CA that issued `certificate` (its signature checked), or `undefined`. */
  authorityOf(certificate: X509Certificate): CertificateAuthority | undefined {
    return this.#authorities.trusted.find((ca) => certificate.checkIssued(ca.certificate.x509) && certificate.verify(ca.certificate.publicKey));
  }

  /**
   * Issues a certificate for `publicKey` naming the device `edgeId` (CN and URI SAN), records
   * it in `device_certificates`, audits `certificate_issued` and returns the grant to deliver.
   */
  async issue(request: DeviceIssueRequest, now = Date.now()): Promise<IssuedDeviceCertificate> {
    const settings = await this.#store.settings.get();
    const crlUrl = await this.#crlUrl();
    const signer = this.#signer;
    // Never past the CA's own expiry (docs/identity.md); a CA that close to its end must be rotated.
    const caLeftSeconds = Math.floor((signer.caCertificate.notAfter.getTime() - now) / 1000) - 60;
    const lifetimeSeconds = Math.min(this.#lifetimeSeconds, caLeftSeconds);
    // Under 60 s only when the CLI allowed it for the end-to-end tests (PIER_SERVER_TEST_SHORT_CERTS).
    const testShortLifetime = this.#lifetimeSeconds < leafLifetimeLimits.minSeconds;
    if (lifetimeSeconds < Math.min(leafLifetimeLimits.minSeconds, this.#lifetimeSeconds)) {
      throw new ServerError("unavailable", `The built-in CA expires ${signer.caCertificate.notAfter.toISOString()}: it can no longer issue device certificates.`, { fix: "Rotate the CA (POST /api/pki/rotation)." });
    }
    const leaf = signer.sign(request.publicKey, {
      profile: "client",
      commonName: request.edgeId,
      subjectAltNames: [{ type: "uri", value: deviceUri(settings.trustDomain ?? defaultTrustDomain, request.edgeId) }],
      lifetimeSeconds,
      ...(testShortLifetime ? { testShortLifetime } : {}),
      // Which CA's CRL: during a rotation two are published at the same URL.
      ...(crlUrl === undefined ? {} : { crlDistributionPoints: [`${crlUrl}?ca=${crlCaId(signer.caCertificate.spkiSha256)}`] }),
    });
    const record: DeviceCertificate = {
      serial: leaf.serialNumber,
      environmentId: request.environmentId,
      edgeId: request.edgeId,
      subject: `CN=${request.edgeId}`,
      issuer: signer.caCertificate.subjectText,
      caSpkiSha256: spkiSha256(signer.caCertificate.publicKey),
      spkiSha256: leaf.spkiSha256,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      issuedAt: new Date(now),
      reason: request.reason,
      revokedAt: null,
      revocationReason: null,
      certificatePem: leaf.certificatePem,
    };
    await this.#store.certificates.insert(record);
    await this.#store.audit.append({
      kind: "certificate_issued",
      environmentId: request.environmentId,
      edgeId: request.edgeId,
      sourceAddress: request.sourceAddress ?? null,
      detail: { serial: record.serial, reason: record.reason, notAfter: record.notAfter.toISOString(), keySha256: record.spkiSha256, issuer: record.issuer },
    });
    return { record, grant: this.grantFor(record) };
  }

  /** What a device receives for a recorded certificate (issued now, or delivered again). */
  grantFor(record: DeviceCertificate): CertificateGrant {
    const issuer = this.#authorities.trusted.find((ca) => spkiSha256(ca.certificate.publicKey) === record.caSpkiSha256) ?? this.#authorities.issuing;
    return { certificate: record.certificatePem, chain: issuer.certificatePem, trustBundle: this.serverTrustBundle() };
  }
}

function checkAuthorities(authorities: DeviceAuthorities): void {
  const issuing = authorities.issuing.certificate.fingerprintSha256;
  if (!authorities.trusted.some((ca) => ca.certificate.fingerprintSha256 === issuing)) {
    throw new ServerError("config_invalid", "The issuing CA must be one of the trusted CAs, or the devices it issues for could not connect.");
  }
}
