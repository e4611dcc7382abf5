import type { AuditEvent } from "../store/store.ts";
import type { NewAlert } from "./alert.ts";

const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

/** Who an event is about, for de-duplication: the environment, else the EDGE_ID, else the serial, else the source. */
function subjectOf(event: AuditEvent, serial: string | null): string {
  if (event.environmentId !== null) return `environment:${event.environmentId}`;
  if (event.edgeId !== null) return `edge:${event.edgeId}`;
  if (serial !== null) return `serial:${serial}`;
  return `source:${event.sourceAddress ?? "unknown"}`;
}

/**
 * The alert an audit event raises, or `null`. Alerts are derived from the audit trail only, so
 * whoever refuses a renewal, a revoked certificate or a clone needs to know nothing of alerts:
 *
 * - `certificate_renewal_failed` → `renewal_failed`;
 * - `refused_tls` whose code or cause says revoked → `revoked_connect` (a revoked device tries to connect);
 * - `identity_clone` → `clone`;
 * - `certificate_binding_refused` → `binding_refused` (a certificate naming one device used as another).
 *
 * @example
 * const alert = alertFromAudit(await store.audit.append({ kind: "identity_clone", environmentId: 3 }));
 */
export function alertFromAudit(event: AuditEvent): NewAlert | null {
  const detail = event.detail;
  const serial = text(detail["serial"]);
  const base = { at: event.at, environmentId: event.environmentId, edgeId: event.edgeId, subject: subjectOf(event, serial) };
  const device = event.edgeId ?? (event.environmentId === null ? null : `environment ${event.environmentId}`);
  switch (event.kind) {
    case "certificate_renewal_failed": {
      const reason = text(detail["reason"]) ?? "unknown";
      return { ...base, kind: "renewal_failed", message: `Certificate renewal of ${device ?? `a device at ${event.sourceAddress ?? "an unknown address"}`} failed (${reason}): ${text(detail["message"]) ?? "no details"}`, detail: { reason, serial, sourceAddress: event.sourceAddress } };
    }
    case "refused_tls": {
      const code = text(detail["code"]) ?? "";
      const cause = text(detail["cause"]) ?? "";
      if (!/revoked/i.test(code) && !/\brevoked\b/i.test(cause)) return null;
      const subject = text(detail["certificate"]);
      return { ...base, kind: "revoked_connect", message: `A revoked certificate${serial ? ` (serial ${serial}${subject ? `, ${subject}` : ""})` : ""} tried to connect from ${event.sourceAddress ?? "an unknown address"}; the handshake was refused.`, detail: { serial, certificate: subject, sourceAddress: event.sourceAddress, listener: text(detail["listener"]) } };
    }
    case "identity_clone": {
      const addresses = Array.isArray(detail["addresses"]) ? (detail["addresses"] as unknown[]).filter((a): a is string => typeof a === "string") : [];
      return { ...base, kind: "clone", message: `The identity of ${device ?? "a device"} is used from ${addresses.length > 0 ? addresses.join(" and ") : "two places"} at once (a cloned device: copied data directory or certificate).`, detail: { addresses } };
    }
    case "certificate_binding_refused":
      return { ...base, kind: "binding_refused", message: `A certificate${serial ? ` (serial ${serial})` : ""} that names another device was presented as ${device ?? "a device"} from ${event.sourceAddress ?? "an unknown address"}; refused.`, detail: { ...detail, sourceAddress: event.sourceAddress } };
    default:
      return null;
  }
}
