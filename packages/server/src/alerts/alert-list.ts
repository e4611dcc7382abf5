import { randomBytes } from "node:crypto";
import type { Alert, AlertKind, NewAlert } from "./alert.ts";

/** What `AlertList.raise` did: a new alert, a repeat worth sending again, or a repeat to only count. */
export interface Raised {
  readonly alert: Alert;
  /** True for a new alert, and for a repeat `resendAfterMs` after the last time it was sent. */
  readonly notify: boolean;
}

/**
 * The alerts in memory: at most `capacity` (the oldest are dropped), one per kind and subject
 * (a revoked device retrying every few seconds is one alert whose count grows, not thousands).
 *
 * @example
 * const list = new AlertList();
 * const { alert, notify } = list.raise(newAlert);
 * if (notify) webhook.enqueue(alert);
 */
export class AlertList {
  readonly #capacity: number;
  readonly #resendAfterMs: number;
  /** Insertion order is age: the first entry is the oldest. Key: kind and subject. */
  readonly #alerts = new Map<string, { alert: Alert; notifiedAt: number }>();

  constructor(options: { capacity?: number; resendAfterMs?: number } = {}) {
    this.#capacity = options.capacity ?? 1_000;
    this.#resendAfterMs = options.resendAfterMs ?? 3_600_000;
  }

  /** Adds an alert, or counts a repeat of one already listed (which becomes the newest, and active again). */
  raise(input: NewAlert): Raised {
    const key = `${input.kind}|${input.subject}`;
    const known = this.#alerts.get(key);
    const now = input.at.getTime();
    if (known) {
      const { alert } = known;
      alert.lastAt = input.at;
      alert.count += 1;
      alert.message = input.message;
      alert.detail = input.detail;
      const reopened = !alert.active;
      alert.active = true;
      this.#alerts.delete(key);
      const notify = reopened || now - known.notifiedAt >= this.#resendAfterMs;
      this.#alerts.set(key, { alert, notifiedAt: notify ? now : known.notifiedAt });
      return { alert, notify };
    }
    const alert: Alert = {
      id: `alr_${randomBytes(8).toString("hex")}`,
      kind: input.kind,
      at: input.at,
      lastAt: input.at,
      count: 1,
      environmentId: input.environmentId,
      edgeId: input.edgeId,
      message: input.message,
      detail: input.detail,
      active: true,
    };
    this.#alerts.set(key, { alert, notifiedAt: now });
    while (this.#alerts.size > this.#capacity) this.#alerts.delete(this.#alerts.keys().next().value!);
    return { alert, notify: true };
  }

  /** Marks inactive every active alert of `kind` whose subject is not in `current` (the condition went away). */
  settle(kind: AlertKind, current: ReadonlySet<string>): void {
    for (const [key, entry] of this.#alerts) {
      if (entry.alert.kind === kind && entry.alert.active && !current.has(key.slice(kind.length + 1))) entry.alert.active = false;
    }
  }

  /** Newest first. */
  list(filter: { activeOnly?: boolean; limit?: number } = {}): Alert[] {
    const out = [...this.#alerts.values()].map((e) => e.alert).reverse();
    const shown = filter.activeOnly ? out.filter((a) => a.active) : out;
    return shown.slice(0, filter.limit ?? shown.length);
  }

  get size(): number {
    return this.#alerts.size;
  }
}
