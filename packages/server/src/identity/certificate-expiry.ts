/** The longest delay `setTimeout` keeps (2^31 − 1 ms, about 24.8 days); longer ones fire at once. */
const maxTimerMs = 2 ** 31 - 1;

/**
 * Calls `expired` once, when `notAfter` passes (at once if it has): one timer per session, no
 * sweep and no store read. A 30-day certificate outlives Node's longest timer, so the timer is
 * re-armed until the moment is in reach. Returns the function that cancels it (call it when the
 * session ends). The timer does not keep the process alive.
 *
 * @example
 * const cancel = onCertificateExpiry(peerCertificate.validToDate, () => end({ code: "certificate_expired", message }));
 */
export function onCertificateExpiry(notAfter: Date, expired: () => void, now: () => number = Date.now): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = notAfter.getTime() - now();
    if (left <= 0) {
      timer = undefined;
      expired();
      return;
    }
    timer = setTimeout(arm, Math.min(left, maxTimerMs));
    timer.unref();
  };
  arm();
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
}
