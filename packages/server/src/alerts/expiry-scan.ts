import type { DeviceCertificate } from "../store/device-certificates.ts";
import type { NewAlert } from "./alert.ts";

/**
 * The share of its lifetime a certificate must have left for its expiry to be normal: agents
 * renew at ⅔ of the lifetime plus up to 10 % jitter (docs/identity.md "Renewal"), so with less
 * than a fifth left the renewal is overdue, whatever the lifetime (60 s or 397 days).
 */
export const overdueShare = 0.2;

/**
 * Devices whose newest unrevoked certificate expires within `days` with no renewal in sight:
 * no newer unrevoked certificate exists for the environment and less than `overdueShare` of
 * the lifetime is left. `certificates` may hold more than that (the store's candidates, or all).
 *
 * @example
 * const alerts = expiringCertificates(await store.certificates.expiringWithoutRenewal(monthAgo, inSevenDays), new Date(), 7);
 */
export function expiringCertificates(certificates: readonly DeviceCertificate[], now: Date, days: number): NewAlert[] {
  const newest = new Map<number, DeviceCertificate>();
  for (const certificate of certificates) {
    if (certificate.revokedAt !== null) continue;
    const best = newest.get(certificate.environmentId);
    if (!best || certificate.notAfter > best.notAfter) newest.set(certificate.environmentId, certificate);
  }
  const horizon = now.getTime() + days * 86_400_000;
  const alerts: NewAlert[] = [];
  for (const certificate of newest.values()) {
    const left = certificate.notAfter.getTime() - now.getTime();
    const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
    if (certificate.notAfter.getTime() > horizon || left > lifetime * overdueShare) continue;
    const when = left > 0 ? `expires ${certificate.notAfter.toISOString()} (in ${describe(left)})` : `expired ${certificate.notAfter.toISOString()} (${describe(-left)} ago)`;
    alerts.push({
      kind: "certificate_expiring",
      subject: `environment:${certificate.environmentId}`,
      at: now,
      environmentId: certificate.environmentId,
      edgeId: certificate.edgeId,
      message: `The certificate of ${certificate.edgeId} (serial ${certificate.serial}) ${when} and the device has not renewed it; check that it is online and can reach the server.`,
      detail: { serial: certificate.serial, notAfter: certificate.notAfter.toISOString(), expired: left <= 0, secondsLeft: Math.round(left / 1000) },
    });
  }
  return alerts;
}

function describe(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds >= 86_400) return `${Math.round(seconds / 86_400)} d`;
  if (seconds >= 3_600) return `${Math.round(seconds / 3_600)} h`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}
