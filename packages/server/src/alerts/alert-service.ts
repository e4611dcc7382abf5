import type { AuditEvent, Store } from "../store/store.ts";
import { isDatabaseUnreachable } from "../store/store-errors.ts";
import { type Alert, type NewAlert, alertPayload } from "./alert.ts";
import { AlertList } from "./alert-list.ts";
import { alertFromAudit } from "./alert-rules.ts";
import { observeAudit } from "./audit-observer.ts";
import { expiringCertificates } from "./expiry-scan.ts";
import { WebhookDelivery, type WebhookDeliveryOptions } from "./webhook-delivery.ts";

/** Default of the setting `alertExpiryDays` (`AlertExpiryDays`). */
export const defaultAlertExpiryDays = 7;

/** A certificate expired longer ago than this raises no alert (30 days). */
const expiredForgottenAfterMs = 30 * 86_400_000;

/** What the alert service needs. */
export interface AlertServiceOptions {
  readonly store: Store;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /** Between two scans of `device_certificates` (default 1 minute). */
  readonly scanIntervalMs?: number;
  /** Delivery timing and the extra CA a test receiver needs (defaults: `WebhookDelivery`'s). */
  readonly webhook?: Omit<WebhookDeliveryOptions, "target" | "log">;
  /** Kept alerts and how soon a repeat is sent again (defaults 1,000 and 1 hour). */
  readonly list?: { capacity?: number; resendAfterMs?: number };
}

/**
 * Alerts (docs/identity.md "Alerts"): raised from the audit trail (`observeAudit`) and from a
 * periodic scan for certificates expiring without a renewal in sight, kept in memory
 * (`AlertList`), logged, and sent to the settings' webhook (`WebhookDelivery`).
 *
 * @example
 * const alerts = new AlertService({ store, log });
 * alerts.start();
 * // GET /api/pier/alerts → alerts.list.list()
 * await alerts.stop();
 */
export class AlertService {
  readonly list: AlertList;
  readonly webhook: WebhookDelivery;
  readonly #options: AlertServiceOptions;
  #stopObserving: (() => void) | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;

  constructor(options: AlertServiceOptions) {
    this.#options = options;
    this.list = new AlertList(options.list);
    this.webhook = new WebhookDelivery({
      ...options.webhook,
      log: options.log,
      target: async () => {
        const settings = await options.store.settings.get();
        return settings.webhookUrl && settings.webhookSecret ? { url: settings.webhookUrl, secret: settings.webhookSecret } : undefined;
      },
    });
  }

  /** Starts observing the audit trail and scanning every `scanIntervalMs` (the first scan at once). */
  start(): void {
    this.#stopObserving ??= observeAudit(this.#options.store.audit, (event) => this.observe(event), (error) => this.#options.log("error", `alerts: ${(error as Error).message}`));
    if (this.#scanTimer) return;
    const run = () => {
      this.#scanning ??= this.scan()
        // An unreachable database is said once per outage by the store; the next scan tries again.
        .catch((error: unknown) => {
          if (!isDatabaseUnreachable(error)) this.#options.log("error", `alerts: the certificate expiry scan failed: ${(error as Error).message}`);
        })
        .finally(() => (this.#scanning = undefined));
    };
    this.#scanTimer = setInterval(run, this.#options.scanIntervalMs ?? 60_000);
    this.#scanTimer.unref();
    run();
  }

  async stop(): Promise<void> {
    this.#stopObserving?.();
    this.#stopObserving = undefined;
    if (this.#scanTimer) clearInterval(this.#scanTimer);
    this.#scanTimer = undefined;
    await this.#scanning;
    await this.webhook.stop();
  }

  /**
   * Raises the alert an audit event means, if any. A refused revoked certificate is named after
   * the device it was issued to when the server issued it (the TLS refusal knows only the serial).
   */
  observe(event: AuditEvent): void {
    const alert = alertFromAudit(event);
    if (!alert) return;
    const serial = alert.detail["serial"];
    if (alert.kind !== "revoked_connect" || alert.environmentId !== null || typeof serial !== "string") {
      this.raise(alert);
      return;
    }
    this.#options.store.certificates
      .get(serial)
      .then((issued) => this.raise(issued ? withDevice(alert, issued.environmentId, issued.edgeId) : alert))
      .catch((error: unknown) => {
        this.#options.log("error", `alerts: cannot look up certificate ${serial}: ${(error as Error).message}`);
        this.raise(alert);
      });
  }

  /** Scans `device_certificates` for devices whose certificate expires within `alertExpiryDays` with no renewal in sight. */
  async scan(now = new Date()): Promise<void> {
    const { store } = this.#options;
    const days = (await store.settings.get()).alertExpiryDays ?? defaultAlertExpiryDays;
    // Devices whose certificate expired more than a month ago are gone, not news.
    const candidates = await store.certificates.expiringWithoutRenewal(new Date(now.getTime() - expiredForgottenAfterMs), new Date(now.getTime() + days * 86_400_000));
    const expiring = expiringCertificates(candidates, now, days);
    for (const alert of expiring) this.raise(alert);
    this.list.settle("certificate_expiring", new Set(expiring.map((a) => a.subject)));
  }

  /** Lists, logs and (when new, or repeated an hour later) sends an alert. */
  raise(input: NewAlert): Alert {
    const { alert, notify } = this.list.raise(input);
    if (notify) {
      this.#options.log("warn", `alert ${alert.kind}: ${alert.message}`);
      this.#notify(alert).catch((error: unknown) => this.#options.log("error", `alerts: cannot queue the webhook: ${(error as Error).message}`));
    }
    return alert;
  }

  async #notify(alert: Alert): Promise<void> {
    const settings = await this.#options.store.settings.get();
    if (settings.webhookUrl && settings.webhookSecret) this.webhook.enqueue(alertPayload(alert));
  }
}

/** The alert about a revoked certificate, attributed to the device it was issued to. */
function withDevice(alert: NewAlert, environmentId: number, edgeId: string): NewAlert {
  return { ...alert, environmentId, edgeId, subject: `environment:${environmentId}`, message: alert.message.replace(/^A revoked certificate/, `A revoked certificate of ${edgeId}`) };
}
