import { request } from "node:https";
import { randomUUID } from "node:crypto";
import type { AlertPayload } from "./alert.ts";
import { deliveryHeader, signBody, signatureHeader } from "./webhook-signature.ts";

/** Where alerts go, read from the settings at each attempt (a change applies to queued alerts too). */
export interface WebhookTarget {
  readonly url: string;
  readonly secret: string;
}

/** Timing and bounds of webhook delivery; the defaults are docs/identity.md's. */
export interface WebhookDeliveryOptions {
  readonly target: () => Promise<WebhookTarget | undefined>;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /** Extra CA certificates (PEM) trusted for the receiver besides the system's; tests use it for a receiver made per run. */
  readonly ca?: string;
  /** Per attempt, connection to answer (default 5 s). */
  readonly timeoutMs?: number;
  /** Attempts per alert, the first included (default 8). */
  readonly maxAttempts?: number;
  /** Wait after the first failure (default 1 s); each next wait is `factor` times longer (default 3), at most `maxDelayMs` (default 5 min). */
  readonly baseDelayMs?: number;
  readonly factor?: number;
  readonly maxDelayMs?: number;
  /** Alerts waiting (default 1,000); past it the oldest is dropped, with a log line. */
  readonly capacity?: number;
  /** Requests in flight at once (default 2). */
  readonly concurrency?: number;
}

interface Pending {
  readonly deliveryId: string;
  readonly alertId: string;
  readonly body: string;
  attempts: number;
  nextAt: number;
  inFlight: boolean;
}

/** What a receiver answered, or why there was no answer. */
type AttemptResult = { ok: true; status: number } | { ok: false; reason: string };

/**
 * Sends alerts to the webhook URL of the settings: `POST` of the JSON `AlertPayload`, signed
 * with `X-Pier-Signature: sha256=<HMAC-SHA256(secret, body)>` and identified by
 * `X-Pier-Delivery` (the same on every retry). A 2xx answer delivers; anything else (another
 * status, a TLS or network error, no answer within the timeout) is retried with exponential
 * backoff and ±20 % jitter. Redirects are not followed. The URL's path and the secret are never
 * logged (chat webhook URLs carry their own secret in the path): only the host is.
 *
 * @example
 * const webhook = new WebhookDelivery({ target: async () => ({ url, secret }), log });
 * webhook.enqueue(alertPayload(alert));
 * await webhook.stop();
 */
export class WebhookDelivery {
  readonly #options: Required<Omit<WebhookDeliveryOptions, "ca">> & { ca?: string };
  readonly #pending: Pending[] = [];
  readonly #requests = new Set<AbortController>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Counters since start, for tests and the API. */
  readonly stats = { delivered: 0, failedAttempts: 0, gaveUp: 0, dropped: 0 };

  constructor(options: WebhookDeliveryOptions) {
    this.#options = { timeoutMs: 5_000, maxAttempts: 8, baseDelayMs: 1_000, factor: 3, maxDelayMs: 300_000, capacity: 1_000, concurrency: 2, ...options };
  }

  /** Queues one alert for delivery; the oldest waiting alert is dropped when the queue is full. */
  enqueue(payload: AlertPayload): void {
    if (this.#stopped) return;
    const waiting = this.#pending.filter((p) => !p.inFlight);
    if (this.#pending.length >= this.#options.capacity && waiting[0]) {
      const oldest = waiting[0];
      this.#pending.splice(this.#pending.indexOf(oldest), 1);
      this.stats.dropped += 1;
      this.#options.log("warn", `webhook: ${this.#options.capacity} alerts are waiting for delivery; dropped the oldest (alert ${oldest.alertId}, delivery ${oldest.deliveryId})`);
    }
    this.#pending.push({ deliveryId: randomUUID(), alertId: payload.id, body: JSON.stringify(payload), attempts: 0, nextAt: Date.now(), inFlight: false });
    this.#pump();
  }

  /** Alerts waiting or being sent. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Stops: nothing more is sent, requests in flight are aborted, the queue is dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const controller of this.#requests) controller.abort();
    this.#pending.length = 0;
    await Promise.resolve();
  }

  /** The wait after failed attempt `attempt` (1-based): base × factorⁿ⁻¹, capped, ±20 % jitter. */
  delayAfter(attempt: number): number {
    const { baseDelayMs, factor, maxDelayMs } = this.#options;
    const nominal = Math.min(maxDelayMs, baseDelayMs * factor ** (attempt - 1));
    return Math.round(nominal * (0.8 + Math.random() * 0.4));
  }

  #pump(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = Date.now();
    let inFlight = this.#pending.filter((p) => p.inFlight).length;
    for (const item of this.#pending) {
      if (inFlight >= this.#options.concurrency) break;
      if (item.inFlight || item.nextAt > now) continue;
      item.inFlight = true;
      inFlight += 1;
      void this.#attempt(item);
    }
    const next = this.#pending.filter((p) => !p.inFlight).reduce((min, p) => Math.min(min, p.nextAt), Infinity);
    if (next !== Infinity && inFlight < this.#options.concurrency) this.#timer = setTimeout(() => this.#pump(), Math.max(0, next - now));
  }

  async #attempt(item: Pending): Promise<void> {
    item.attempts += 1;
    let result: AttemptResult;
    let host = "?";
    try {
      const target = await this.#options.target();
      if (!target) {
        // Nobody to tell: the webhook was removed while this alert waited.
        this.#remove(item);
        return;
      }
      host = new URL(target.url).host;
      result = await this.#post(target, item);
    } catch (error) {
      result = { ok: false, reason: (error as Error).message };
    }
    if (this.#stopped) return;
    item.inFlight = false;
    if (result.ok) {
      this.stats.delivered += 1;
      this.#remove(item);
    } else if (item.attempts >= this.#options.maxAttempts) {
      this.stats.failedAttempts += 1;
      this.stats.gaveUp += 1;
      this.#options.log("error", `webhook: gave up delivering alert ${item.alertId} to ${host} after ${item.attempts} attempts (delivery ${item.deliveryId}): ${result.reason}`);
      this.#remove(item);
    } else {
      this.stats.failedAttempts += 1;
      const wait = this.delayAfter(item.attempts);
      item.nextAt = Date.now() + wait;
      this.#options.log("warn", `webhook: delivering alert ${item.alertId} to ${host} failed (attempt ${item.attempts} of ${this.#options.maxAttempts}): ${result.reason}; retrying in ${(wait / 1000).toFixed(1)} s`);
    }
    this.#pump();
  }

  #remove(item: Pending): void {
    const index = this.#pending.indexOf(item);
    if (index >= 0) this.#pending.splice(index, 1);
    this.#pump();
  }

  #post(target: WebhookTarget, item: Pending): Promise<AttemptResult> {
    const controller = new AbortController();
    this.#requests.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.#options.timeoutMs / 1000} s`)), this.#options.timeoutMs);
    return new Promise<AttemptResult>((resolve) => {
      const req = request(
        target.url,
        {
          method: "POST",
          signal: controller.signal,
          ...(this.#options.ca ? { ca: this.#options.ca } : {}),
          headers: {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(item.body),
            "User-Agent": "Pier-Webhook/1",
            [signatureHeader]: signBody(target.secret, item.body),
            [deliveryHeader]: item.deliveryId,
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // The answer's body is of no use; read at most what arrives, never buffer it.
          res.resume();
          res.on("end", () => resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, reason: `the receiver answered ${status}` }));
          res.on("error", (error) => resolve({ ok: false, reason: error.message }));
        },
      );
      req.on("error", (error) => resolve({ ok: false, reason: controller.signal.aborted && controller.signal.reason instanceof Error ? controller.signal.reason.message : error.message }));
      req.end(item.body);
    }).finally(() => {
      clearTimeout(timer);
      this.#requests.delete(controller);
    });
  }
}
