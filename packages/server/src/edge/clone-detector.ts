import type { IdentityClone } from "../store/store.ts";

/**
 * When two devices share one identity (a copied `--data` directory, one certificate on two
 * machines), each connection replaces the other's session. One replacement is normal: a device
 * whose address changed reconnects before the server noticed its old connection died. A clone is
 * a *repeated* replacement of a live session from another address (docs/security.md, "Clones").
 */
export const cloneRule = {
  /**
   * Replacements (of a session that was still healthy, by a connection from a different source
   * address) within `windowMs` that flag a clone. Three: a device that changes address once, or
   * twice in ten minutes (Wi-Fi to LTE and back), is not flagged; two clones reach three within
   * seconds even with the agent's backoff (1 s, 2 s, 4 s…).
   */
  replacements: 3,
  windowMs: 10 * 60_000,
  /**
   * An episode's `lastSeen` is written at most this often (the rest stays in memory, which the API
   * reads first), so a flapping pair costs no database write per reconnect.
   */
  persistEveryMs: 60_000,
  /** Distinct source addresses kept per episode (the oldest are dropped first). */
  maxAddresses: 8,
} as const;

/** A replaced session, as the detector sees it. */
export interface Replacement {
  /** Source address of the session that was replaced. */
  readonly replaced: string;
  /** Source address of the connection that replaced it. */
  readonly by: string;
  /** Whether the replaced session was still healthy (heard from within its check-in interval). */
  readonly replacedWasHealthy: boolean;
}

/** What the caller should do about a replacement. */
export interface CloneDecision {
  /** The episode this replacement belongs to, when a clone is flagged. */
  readonly clone?: IdentityClone;
  /** Write `clone` to the store now (first detection, or `persistEveryMs` since the last write). */
  readonly persist: boolean;
  /** Audit it: the first replacement of a new episode (once per episode). */
  readonly audit: boolean;
}

interface Episode {
  clone: IdentityClone;
  persistedAt: number;
}

function withAddresses(addresses: readonly string[], more: readonly string[]): string[] {
  const merged = [...addresses];
  for (const address of more) {
    const at = merged.indexOf(address);
    if (at >= 0) merged.splice(at, 1);
    merged.push(address);
  }
  return merged.slice(-cloneRule.maxAddresses);
}

/**
 * Counts an identity's session replacements in memory and decides when they make a clone
 * episode. An episode ends once `windowMs` passes without a qualifying replacement; the next one
 * is a new episode (audited again).
 *
 * @example
 * const decision = clones.replaced(environmentId, { replaced: "198.51.100.7", by: "203.0.113.9", replacedWasHealthy: true });
 * if (decision.audit) await store.audit.append({ kind: "identity_clone", … });
 */
export class CloneDetector {
  /** Qualifying replacements per environment within the window: when, and the two addresses. */
  readonly #recent = new Map<number, { at: number; addresses: readonly string[] }[]>();
  readonly #episodes = new Map<number, Episode>();

  /** Notes that `environmentId`'s live session was replaced, and says what to do about it. */
  replaced(environmentId: number, replacement: Replacement, now = Date.now()): CloneDecision {
    if (!replacement.replacedWasHealthy || replacement.replaced === replacement.by) return { persist: false, audit: false };
    const recent = (this.#recent.get(environmentId) ?? []).filter((event) => now - event.at <= cloneRule.windowMs);
    recent.push({ at: now, addresses: [replacement.replaced, replacement.by] });
    this.#recent.set(environmentId, recent.slice(-cloneRule.replacements));

    const episode = this.#episodes.get(environmentId);
    if (episode && now - episode.clone.lastSeen.getTime() <= cloneRule.windowMs) {
      episode.clone = { ...episode.clone, addresses: withAddresses(episode.clone.addresses, [replacement.replaced, replacement.by]), lastSeen: new Date(now) };
      const persist = now - episode.persistedAt >= cloneRule.persistEveryMs;
      if (persist) episode.persistedAt = now;
      return { clone: episode.clone, persist, audit: false };
    }
    if (recent.length < cloneRule.replacements) return { persist: false, audit: false };
    const first = recent[0]?.at ?? now;
    const clone: IdentityClone = { addresses: withAddresses([], recent.flatMap((event) => event.addresses)), firstSeen: new Date(first), lastSeen: new Date(now) };
    this.#episodes.set(environmentId, { clone, persistedAt: now });
    return { clone, persist: true, audit: true };
  }

  /** The environment's current episode (`undefined` when none, or when it ended `windowMs` ago). */
  current(environmentId: number, now = Date.now()): IdentityClone | undefined {
    const episode = this.#episodes.get(environmentId);
    return episode && now - episode.clone.lastSeen.getTime() <= cloneRule.windowMs ? episode.clone : undefined;
  }

  /** The newest episode this server saw for the environment, ended or not. */
  latest(environmentId: number): IdentityClone | undefined {
    return this.#episodes.get(environmentId)?.clone;
  }

  /** Drops what is known about an environment (it was removed). */
  forget(environmentId: number): void {
    this.#recent.delete(environmentId);
    this.#episodes.delete(environmentId);
  }
}
