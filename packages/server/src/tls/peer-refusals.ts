import type { X509Certificate } from "node:crypto";
import type { TlsFailure } from "@pier/pki";

// Why the TLS front closes a connection once its handshake ended (tls-front.ts `#track`): checks
// OpenSSL does not make for a resumed session, or cannot make (revocations kept in memory).

/** A certificate revoked since its handshake began, or since the session it resumes was made. */
export function revokedFailure(peer: X509Certificate, resumed: boolean): TlsFailure {
  const serial = peer.serialNumber.toLowerCase();
  return {
    code: "client_certificate_revoked",
    cause: `the client certificate (serial ${serial}, ${peer.subject.replace(/\n/g, ", ")}) is revoked${resumed ? "; it tried to resume a TLS session made before the revocation" : ""}`,
    fix: "The device must be enrolled again: remove its environment and let it enroll, or give it a certificate that is not revoked.",
    detail: `revoked serial ${serial} issued by ${peer.issuer.replace(/\n/g, ", ")}`,
  };
}

/**
 * A resumed session's certificate was valid when its ticket was issued, up to a day ago
 * (`ticketLifetimeSeconds`); OpenSSL does not look at its dates again, so this does.
 */
export function outsideValidityFailure(peer: X509Certificate, now: Date): TlsFailure | undefined {
  const expired = peer.validToDate.getTime() < now.getTime();
  if (!expired && peer.validFromDate.getTime() <= now.getTime()) return undefined;
  const serial = peer.serialNumber.toLowerCase();
  return {
    code: expired ? "client_certificate_expired" : "client_certificate_not_yet_valid",
    cause: `the client certificate (serial ${serial}, ${peer.subject.replace(/\n/g, ", ")}) ${expired ? `expired on ${peer.validToDate.toISOString()}` : `is valid only from ${peer.validFromDate.toISOString()}`}; it tried to resume a TLS session made while it was valid`,
    fix: expired ? "Renew the device's certificate (the agent renews a Pier-issued one by itself before it expires), or give it a valid one." : "Check the clocks of the server and of whoever issued the certificate.",
    detail: `serial ${serial} issued by ${peer.issuer.replace(/\n/g, ", ")}, valid ${peer.validFromDate.toISOString()} to ${peer.validToDate.toISOString()}`,
  };
}
