/** What Pier alerts about (docs/identity.md "Alerts"). */
export const alertKinds = ["certificate_expiring", "renewal_failed", "revoked_connect", "clone", "binding_refused"] as const;
export type AlertKind = (typeof alertKinds)[number];

/** Something an administrator should look at, kept in memory and sent to the webhook. */
export interface Alert {
  /** `alr_` and 16 random hex digits; stays the same while the alert repeats. */
  readonly id: string;
  readonly kind: AlertKind;
  /** When it was first raised. */
  readonly at: Date;
  /** When it was last seen (a repeat updates it). */
  lastAt: Date;
  /** How many times it was seen since `at`. */
  count: number;
  readonly environmentId: number | null;
  readonly edgeId: string | null;
  message: string;
  detail: Record<string, unknown>;
  /** False once the condition is gone (a certificate was renewed). */
  active: boolean;
}

/** What raises an alert; `subject` names what it is about (de-duplicated per kind and subject). */
export interface NewAlert {
  readonly kind: AlertKind;
  /** The device (environment id, else EDGE_ID, else serial or source address) it is about. */
  readonly subject: string;
  readonly at: Date;
  readonly environmentId: number | null;
  readonly edgeId: string | null;
  readonly message: string;
  readonly detail: Record<string, unknown>;
}

/** The JSON body a webhook receives for one alert. */
export interface AlertPayload {
  readonly id: string;
  readonly kind: AlertKind;
  readonly at: string;
  readonly environmentId: number | null;
  readonly edgeId: string | null;
  readonly message: string;
  readonly detail: Record<string, unknown>;
}

/** The webhook body of an alert: as of its last sighting. */
export function alertPayload(alert: Alert): AlertPayload {
  return { id: alert.id, kind: alert.kind, at: alert.lastAt.toISOString(), environmentId: alert.environmentId, edgeId: alert.edgeId, message: alert.message, detail: { ...alert.detail, count: alert.count, firstAt: alert.at.toISOString() } };
}
