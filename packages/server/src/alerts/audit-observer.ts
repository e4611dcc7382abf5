import type { AuditEvent, AuditLog } from "../store/store.ts";

/**
 * Calls `listener` with every audit event once it is stored, by wrapping `audit.append` in
 * place: the one hook through which alerts see what every part of the server audits, without
 * any of them knowing about alerts. A listener that throws is reported to `onError` and never
 * fails the append. Returns a function that restores the original `append`.
 *
 * @example
 * const stop = observeAudit(store.audit, (event) => alerts.observe(event), (error) => log("error", String(error)));
 */
export function observeAudit(audit: AuditLog, listener: (event: AuditEvent) => void, onError: (error: unknown) => void): () => void {
  const original = audit.append.bind(audit);
  const mutable = audit as { append: AuditLog["append"] };
  mutable.append = async (event, change) => {
    const stored = await original(event, change);
    try {
      listener(stored);
    } catch (error) {
      onError(error);
    }
    return stored;
  };
  const wrapped = mutable.append;
  return () => {
    // Only undo our own wrapper; a later one (another observer) stays.
    if (mutable.append === wrapped) mutable.append = original;
  };
}
