import type { AuditEvent, Store } from "../store/store.ts";
import { storedSerial } from "./serials.ts";

/** How far back the trail looks for refused handshakes that carry no environment (the audit list's cap). */
export const refusedHandshakeLookback = 1000;

// Node writes serials with leading zeros at times; the store keeps them without.

/**
 * The audit trail of one device, newest first: its own events, plus the refused TLS handshakes
 * (`refused_tls`, recorded before any device is known) that presented one of its certificates —
 * those the built-in CA issued to it and the one it last presented — among the latest
 * `refusedHandshakeLookback` events. So a revoked or expired device knocking again shows on its page.
 *
 * @example
 * const trail = await deviceAuditTrail(store, 7); // [{ kind: "refused_tls", detail: { serial: "1a2b", code: "revoked" } }, …]
 */
export async function deviceAuditTrail(store: Store, environmentId: number, limit = 200): Promise<AuditEvent[]> {
  const own = await store.audit.list({ environmentId, limit });
  const environment = await store.environments.get(environmentId);
  const serials = new Set((await store.certificates.listByEnvironment(environmentId)).map((certificate) => storedSerial(certificate.serial)));
  if (environment?.clientCertificate) serials.add(storedSerial(environment.clientCertificate.serialNumber));
  if (serials.size === 0) return own;
  const recent = await store.audit.list({ limit: refusedHandshakeLookback });
  const refused = recent.filter((event) => event.environmentId === null && event.kind === "refused_tls" && typeof event.detail["serial"] === "string" && serials.has(storedSerial(event.detail["serial"])));
  return [...own, ...refused].sort((a, b) => b.at.getTime() - a.at.getTime() || b.id - a.id).slice(0, limit);
}
