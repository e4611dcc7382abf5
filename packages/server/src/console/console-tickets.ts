import { randomBytes } from "node:crypto";
import { ServerError } from "../errors.ts";
import type { ConsoleSpec } from "./console-spec.ts";

/** What a ticket lets its bearer open, once. */
export interface ConsoleGrant {
  readonly userId: number;
  readonly environmentId: number;
  readonly spec: ConsoleSpec;
  /** The exec instance created for it on the device. */
  readonly execId: string;
}

interface Held extends ConsoleGrant {
  readonly expiresAt: number;
}

/** 32 random bytes, base64url: 43 characters, a valid Sec-WebSocket-Protocol token. */
const ticketPattern = /^[A-Za-z0-9_-]{43}$/;

/**
 * Single-use, short-lived tickets that open one console WebSocket each: browsers cannot set
 * `Authorization` on a WebSocket, and the session JWT must not travel in a URL or a header
 * that lives longer than a few seconds (docs/security.md "Browser console").
 *
 * @example
 * const { ticket } = tickets.issue(grant);
 * const grant = tickets.take(ticket); // undefined the second time
 */
export class ConsoleTickets {
  readonly #held = new Map<string, Held>();
  readonly #ttlMs: number;
  readonly #perUser: number;
  readonly #now: () => number;

  constructor(options: { ttlMs: number; perUser: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#perUser = options.perUser;
    this.#now = options.now ?? Date.now;
  }

  /** Tickets held for `userId`, expired ones dropped first. */
  heldBy(userId: number): number {
    this.#sweep();
    let count = 0;
    for (const held of this.#held.values()) if (held.userId === userId) count++;
    return count;
  }

  /** Throws `too_many_requests` when `userId` holds as many unused tickets as allowed. */
  checkRoom(userId: number): void {
    if (this.heldBy(userId) >= this.#perUser) {
      throw new ServerError("too_many_requests", `You hold ${this.#perUser} unused console tickets, the most one user may.`, { fix: `Use one, or wait ${this.#ttlMs / 1000} s for them to expire.` });
    }
  }

  /** Issues a ticket for `grant`, or throws `too_many_requests` past the per-user limit. */
  issue(grant: ConsoleGrant): { ticket: string; expiresAt: Date } {
    this.checkRoom(grant.userId);
    const ticket = randomBytes(32).toString("base64url");
    const expiresAt = this.#now() + this.#ttlMs;
    this.#held.set(ticket, { ...grant, expiresAt });
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /** The grant of `ticket`, removed so it cannot be used again; `undefined` when unknown or expired. */
  take(ticket: string): ConsoleGrant | undefined {
    if (!ticketPattern.test(ticket)) return undefined;
    const held = this.#held.get(ticket);
    if (!held) return undefined;
    this.#held.delete(ticket);
    if (held.expiresAt <= this.#now()) return undefined;
    return { userId: held.userId, environmentId: held.environmentId, spec: held.spec, execId: held.execId };
  }

  #sweep(): void {
    const now = this.#now();
    for (const [ticket, held] of this.#held) if (held.expiresAt <= now) this.#held.delete(ticket);
  }
}
