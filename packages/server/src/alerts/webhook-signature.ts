import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Header carrying the body's HMAC: `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub signs webhooks. */
export const signatureHeader = "X-Pier-Signature";
/** Header carrying the delivery's id, the same on every retry, so a receiver can drop duplicates. */
export const deliveryHeader = "X-Pier-Delivery";

/** Bounds of a webhook secret set by an administrator (a generated one is 43 characters). */
export const webhookSecretLimits = { minLength: 16, maxLength: 256 } as const;

/**
 * The `X-Pier-Signature` value of a body.
 *
 * @example
 * signBody(secret, body); // "sha256=5d7c…"
 */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Checks a received signature in constant time (what a receiver does). */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A new secret: 32 random bytes, base64url (43 characters). */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString("base64url");
}
