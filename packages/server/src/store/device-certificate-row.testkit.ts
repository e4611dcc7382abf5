import type { DeviceCertificate } from "./device-certificates.ts";

/** Makes a `device_certificates` row: `serial`, its device, `lifetimeMs` long with `leftMs` left (negative: expired). */
export type DeviceCertificateRowMaker = (serial: string, environmentId: number, edgeId: string, lifetimeMs: number, leftMs: number, extra?: Partial<DeviceCertificate>) => DeviceCertificate;

/**
 * Rows as issuance records them, timed against `now`, for seeding the store in tests (a stand-in
 * for issuance, which tests of its own cover): issued at `notBefore`, `CN=<edgeId>` from
 * `CN=Pier CA`, fixed key hashes, no PEM; `extra` overrides any field (revocation, reason).
 *
 * @example
 * const row = deviceCertificateRows(Date.now());
 * await store.certificates.insert(row("0a", environment.id, "edge-1", 30 * day, 2 * day));
 */
export function deviceCertificateRows(now: number): DeviceCertificateRowMaker {
  return (serial, environmentId, edgeId, lifetimeMs, leftMs, extra = {}) => ({
    serial,
    environmentId,
    edgeId,
    subject: `CN=${edgeId}`,
    issuer: "CN=Pier CA",
    caSpkiSha256: "a".repeat(64),
    spkiSha256: "b".repeat(64),
    notBefore: new Date(now + leftMs - lifetimeMs),
    notAfter: new Date(now + leftMs),
    issuedAt: new Date(now + leftMs - lifetimeMs),
    reason: "enrollment",
    revokedAt: null,
    revocationReason: null,
    certificatePem: "",
    ...extra,
  });
}
