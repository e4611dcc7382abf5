import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";

/** The most characters of an incoming `X-Request-Id` kept. */
export const maxRequestIdLength = 64;

/** An incoming `X-Request-Id` kept as it is: 1 to 64 of `[A-Za-z0-9._-]`; anything else is replaced. */
const acceptedRequestId = new RegExp(`^[A-Za-z0-9._-]{1,${maxRequestIdLength}}$`);

const requests = new AsyncLocalStorage<{ readonly requestId: string }>();

/**
 * The id of the API request whose work is running now (its handlers, and whatever they call and
 * log), or `undefined` outside one. Log formatters read it.
 *
 * @example
 * log("error", "failed"); // the formatter adds currentRequestId() when there is one
 */
export function currentRequestId(): string | undefined {
  return requests.getStore()?.requestId;
}

/**
 * The id a request is known by: its own `X-Request-Id` when sane (a proxy's or a client's, so
 * their logs and ours join up), else a new UUID. An over-long or odd one is never echoed: it
 * would go into every log line and response of the request.
 *
 * @example
 * requestIdOf("abc-123"); // "abc-123"
 * requestIdOf("x".repeat(65)); // a new UUID
 */
export function requestIdOf(incoming: string | undefined): string {
  return incoming !== undefined && acceptedRequestId.test(incoming) ? incoming : randomUUID();
}

/**
 * Gives each API request an id (`requestIdOf`), answers it in `X-Request-Id`, and runs the
 * request with it as `currentRequestId()`, so its log lines carry it. Registered first.
 *
 * @example
 * app.use("*", requestIds());
 */
export function requestIds(): MiddlewareHandler {
  return async (c, next) => {
    const requestId = requestIdOf(c.req.header("x-request-id"));
    await requests.run({ requestId }, next);
    // After next(): the response exists, whichever handler (or onError) made it.
    c.header("X-Request-Id", requestId);
  };
}
