import { RateLimiter } from "../auth/rate-limiter.ts";
import type { TlsRefusal } from "./tls-front.ts";

/** How many refusals a listener logs and audits one by one, over all sources. */
export interface RefusalReportLimits {
  /** Log lines in a burst, refilled one per `logRefillMs`. */
  readonly logBurst: number;
  readonly logRefillMs: number;
  /** Audit rows in a burst (on top of the per-source limit), refilled one per `auditRefillMs`. */
  readonly auditBurst: number;
  readonly auditRefillMs: number;
  /** Audit rows per source in a burst, refilled one per `perSourceRefillMs`. */
  readonly perSourceBurst: number;
  readonly perSourceRefillMs: number;
  /** How often the refusals past the limits are counted in one line (ms). */
  readonly summaryMs: number;
}

/**
 * 20 lines and 50 audit rows at once per listener, then 2 lines and 5 rows a second, and 20 rows
 * per source then one every 3 s (as before). A kill -9 storm of 15,000 agents made thousands of
 * refusals a second (clients that gave up in the handshake queue: "closed the connection during
 * the handshake"), each a warn line and, one source per agent, an audit INSERT: 6 % of the
 * restarted server's CPU wrote log lines and 7 % ran SQLite, while handshakes waited.
 */
export const defaultRefusalReportLimits: RefusalReportLimits = Object.freeze({
  logBurst: 20,
  logRefillMs: 500,
  auditBurst: 50,
  auditRefillMs: 200,
  perSourceBurst: 20,
  perSourceRefillMs: 3_000,
  summaryMs: 10_000,
});

/** Where a refusal goes. */
export interface RefusalReportOptions {
  /** The listener's name in the lines (`https`, `tunnel`). */
  readonly listener: string;
  readonly log: (level: "warn", message: string) => void;
  /** Writes the `refused_tls` audit row (the caller catches its failure). */
  readonly audit: (refusal: TlsRefusal, facts: { serial: string | null; subject: string | null }) => void;
  readonly limits?: RefusalReportLimits;
  /** The per-source limit on audit rows, when shared with other refusals (the edge routes'); one of its own without. */
  readonly perSource?: Pick<RateLimiter, "take">;
  readonly now?: () => number;
}

/**
 * Logs and audits a listener's refused TLS clients, one by one up to the limits; past them,
 * counts them by failure code and says so once per `summaryMs`: "tunnel: 1234 more TLS clients
 * refused in the last 10 s, not logged one by one (1234 not audited): 1200× client_closed,
 * 34× unknown_ca". Returns the function that takes each refusal, and `stop` for its timer.
 *
 * @example
 * const report = refusalReport({ listener: "tunnel", log, audit: (refusal) => void store.audit.append(…) });
 * new TlsFront({ …, onRefusal: report.refused });
 */
export function refusalReport(options: RefusalReportOptions): { refused: (refusal: TlsRefusal) => void; stop: () => void } {
  const limits = options.limits ?? defaultRefusalReportLimits;
  const now = options.now ?? Date.now;
  const lines = new RateLimiter({ capacity: limits.logBurst, refillIntervalMs: limits.logRefillMs, now });
  const audits = new RateLimiter({ capacity: limits.auditBurst, refillIntervalMs: limits.auditRefillMs, now });
  const perSource = options.perSource ?? new RateLimiter({ capacity: limits.perSourceBurst, refillIntervalMs: limits.perSourceRefillMs, now });
  const unlogged = new Map<string, number>();
  let unaudited = 0;
  let timer: NodeJS.Timeout | undefined;

  const summarize = () => {
    timer = undefined;
    const count = [...unlogged.values()].reduce((sum, n) => sum + n, 0);
    if (count === 0) return;
    const kinds = [...unlogged].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${n}× ${code}`);
    options.log("warn", `${options.listener}: ${count} more TLS clients refused in the last ${Math.round(limits.summaryMs / 1000)} s, not logged one by one (${unaudited} not audited): ${kinds.join(", ")}`);
    unlogged.clear();
    unaudited = 0;
  };

  const refused = (refusal: TlsRefusal) => {
    const source = refusal.remoteAddress ?? "unknown";
    // The presented certificate, when Node showed it (tls-front captures it before a failed verification drops it).
    const serial = refusal.peerCertificate?.serialNumber.toLowerCase() ?? null;
    const subject = refusal.peerCertificate?.subject.replace(/\n/g, ", ") ?? null;
    const audited = perSource.take(source).allowed && audits.take("all").allowed;
    if (audited) options.audit(refusal, { serial, subject });
    if (lines.take("all").allowed) {
      const presented = serial !== null && !refusal.failure.cause.includes(serial) ? ` [certificate serial ${serial}, ${subject}]` : "";
      options.log("warn", `${options.listener}: refused a TLS client from ${source}${refusal.serverName ? ` (SNI ${refusal.serverName})` : ""}: ${refusal.failure.cause}${presented}`);
      return;
    }
    unlogged.set(refusal.failure.code, (unlogged.get(refusal.failure.code) ?? 0) + 1);
    if (!audited) unaudited++;
    if (timer === undefined) {
      timer = setTimeout(summarize, limits.summaryMs);
      timer.unref();
    }
  };

  return {
    refused,
    stop: () => {
      clearTimeout(timer);
      summarize();
    },
  };
}
