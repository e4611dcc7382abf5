/** Alerts and webhooks (docs/identity.md "Alerts"). */
export { alertKinds, alertPayload, type Alert, type AlertKind, type AlertPayload, type NewAlert } from "./alert.ts";
export { AlertList } from "./alert-list.ts";
export { alertFromAudit } from "./alert-rules.ts";
export { observeAudit } from "./audit-observer.ts";
export { expiringCertificates, overdueShare } from "./expiry-scan.ts";
export { AlertService, defaultAlertExpiryDays, type AlertServiceOptions } from "./alert-service.ts";
export { WebhookDelivery, type WebhookDeliveryOptions, type WebhookTarget } from "./webhook-delivery.ts";
export { signBody, verifySignature, generateWebhookSecret, signatureHeader, deliveryHeader, webhookSecretLimits } from "./webhook-signature.ts";
