import { peerCertificateLifetimeMs, type PeerCa, type PeerCredentials } from "./peer-ca.ts";

/** What a replica's peer identity is made from. */
export interface PeerIdentityOptions {
  readonly ca: PeerCa;
  readonly replicaId: string;
  readonly peerAddress: string;
  readonly trustDomain: string;
  /** Lifetime of each certificate (default three days); a new one is issued with a third of it left. */
  readonly lifetimeMs?: number;
  readonly log: (level: "info" | "error", message: string) => void;
}

/**
 * This replica's certificate on the peer channel, issued at start and re-issued before it
 * expires; listeners (the peer listener, the peer client) take the new one for new connections.
 *
 * @example
 * const identity = await PeerIdentity.start({ ca, replicaId, peerAddress, trustDomain, log });
 * identity.onChange((credentials) => server.setSecureContext(credentials));
 */
export class PeerIdentity {
  #current: PeerCredentials;
  readonly #options: PeerIdentityOptions;
  readonly #listeners = new Set<(credentials: PeerCredentials) => void>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(options: PeerIdentityOptions, current: PeerCredentials) {
    this.#options = options;
    this.#current = current;
    this.#schedule();
  }

  /** Issues the first certificate. */
  static async start(options: PeerIdentityOptions): Promise<PeerIdentity> {
    return new PeerIdentity(options, await PeerIdentity.#issue(options));
  }

  static #issue(options: PeerIdentityOptions): Promise<PeerCredentials> {
    return options.ca.issue({ replicaId: options.replicaId, peerAddress: options.peerAddress, trustDomain: options.trustDomain, lifetimeMs: options.lifetimeMs ?? peerCertificateLifetimeMs });
  }

  /** The certificate, key and CA to present and trust now. */
  get current(): PeerCredentials {
    return this.#current;
  }

  /** Calls `listener` with each re-issued certificate; returns its removal. */
  onChange(listener: (credentials: PeerCredentials) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-issues now (also what the timer does). */
  async renew(): Promise<PeerCredentials> {
    this.#current = await PeerIdentity.#issue(this.#options);
    this.#schedule();
    for (const listener of this.#listeners) listener(this.#current);
    this.#options.log("info", `peer channel: this replica's certificate was re-issued, valid until ${this.#current.notAfter.toISOString()}`);
    return this.#current;
  }

  /** Stops re-issuing. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    const lifetime = this.#options.lifetimeMs ?? peerCertificateLifetimeMs;
    const delay = Math.max(1_000, this.#current.notAfter.getTime() - lifetime / 3 - Date.now());
    this.#timer = setTimeout(() => {
      this.renew().catch((error: unknown) => {
        this.#options.log("error", `peer channel: could not re-issue this replica's certificate (retrying in a minute): ${(error as Error).message}`);
        this.#timer = setTimeout(() => this.#schedule(), 60_000).unref();
      });
    }, Math.min(delay, 2 ** 31 - 1)).unref();
  }
}
