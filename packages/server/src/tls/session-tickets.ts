import { hkdfSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type tls from "node:tls";
import { writeFileAtomic } from "@pier/pki";
import { ServerError } from "../errors.ts";

/** What Node's `setTicketKeys` takes: a 16-byte key name, a 16-byte HMAC key, a 16-byte AES key. */
const ticketKeyBytes = 48;

/**
 * How long a session ticket of the mTLS servers resumes, and how long one key encrypts tickets:
 * a day. Tickets are issued at a connection's handshake only, so this bounds how old a device's
 * session may be for its reconnect after a server restart to be a resumed handshake rather than a
 * full one; and a key that leaks exposes at most a day of TLS 1.2 sessions (whose tickets carry
 * their master secret; TLS 1.3 resumption makes a fresh X25519 exchange).
 */
export const ticketLifetimeSeconds = 24 * 3600;

/** How often a key's age is looked at (it is replaced once older than `ticketLifetimeSeconds`). */
const ageCheckMs = 10 * 60_000;

/**
 * The key that encrypts the TLS session tickets of every server of both fronts, kept in a file
 * (0600, in a 0700 directory) so that a restarted server resumes the sessions its predecessor
 * issued: a reconnect storm after a crash then costs resumed handshakes, not full ones
 * (docs/security.md "TLS session resumption"). Each server's tickets are encrypted with a key
 * derived from it and bound to that server's trust (`attach`). The key is replaced at a
 * revocation (`rotate()`) and once it is older than `ticketLifetimeSeconds`: tickets issued
 * before no longer resume, and their clients make a full handshake and show their certificate
 * again. Without a path the key lives in memory.
 *
 * @example
 * const tickets = SessionTicketKeys.load(join(dataDir, "secrets", "tls-tickets.key"));
 * new TlsFront({ …, sessionTickets: tickets });
 */
export class SessionTicketKeys {
  readonly #path: string | undefined;
  /** Each attached server, with what its tickets are bound to. */
  readonly #servers = new Map<tls.Server, Buffer>();
  readonly #ageCheck: NodeJS.Timeout;
  readonly #onError: (error: ServerError) => void;
  #key: Buffer;
  #createdAt: number;

  private constructor(path: string | undefined, key: Buffer, createdAt: number, onError: (error: ServerError) => void) {
    this.#path = path;
    this.#key = key;
    this.#createdAt = createdAt;
    this.#onError = onError;
    this.#ageCheck = setInterval(() => this.#rotateIfOld(), ageCheckMs).unref();
  }

  /**
   * Reads the key from `path`, or creates it (random, 0600) when it is missing or is not a key:
   * the file holds nothing worth keeping, a lost key only costs one full handshake per client.
   * Throws `ServerError` `internal` when the file cannot be read or written; `onError` hears
   * of a later rotation by age that could not write it (the new key is in use all the same).
   */
  static load(path: string, onError: (error: ServerError) => void = () => undefined): SessionTicketKeys {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const existing = readKey(path);
      if (existing) {
        const keys = new SessionTicketKeys(path, existing.key, existing.writtenAt, onError);
        if (keys.#isOld()) keys.rotate();
        return keys;
      }
      const keys = new SessionTicketKeys(path, randomBytes(ticketKeyBytes), Date.now(), onError);
      keys.#save();
      return keys;
    } catch (error) {
      throw new ServerError("internal", `Cannot read or create the TLS session ticket key ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A key of this process only: sessions do not survive a restart. */
  static inMemory(): SessionTicketKeys {
    return new SessionTicketKeys(undefined, randomBytes(ticketKeyBytes), Date.now(), () => undefined);
  }

  /**
   * Encrypts `server`'s tickets from now on (and after every rotation) with a key derived from
   * the current one and `context`: what the server's tickets are bound to (its certificates, the
   * CAs and CRLs it trusts, its session context). A server whose trust changed, in a reload or
   * across a restart, gets another key, and tickets issued under the old trust do not resume.
   * Attaching an attached server again binds it to the new context.
   */
  attach(server: tls.Server, context: Buffer): void {
    this.#servers.set(server, context);
    server.setTicketKeys(this.#keyFor(context));
  }

  /** Forgets `server` (its front closed). */
  detach(server: tls.Server): void {
    this.#servers.delete(server);
  }

  /**
   * Gives every attached server a new key (and the file, first): tickets issued before no longer
   * resume. Throws `ServerError` `internal` when the file cannot be written; the servers then
   * still take the new key, in memory.
   */
  rotate(): void {
    this.#key = randomBytes(ticketKeyBytes);
    this.#createdAt = Date.now();
    for (const [server, context] of this.#servers) server.setTicketKeys(this.#keyFor(context));
    try {
      this.#save();
    } catch (error) {
      throw new ServerError("internal", `Cannot write the TLS session ticket key ${this.#path}: ${(error as Error).message}; the new key is in use until the server restarts.`, { cause: error });
    }
  }

  /** Stops looking at the key's age (the server stops). */
  close(): void {
    clearInterval(this.#ageCheck);
  }

  #keyFor(context: Buffer): Buffer {
    return Buffer.from(hkdfSync("sha256", this.#key, Buffer.alloc(0), context, ticketKeyBytes));
  }

  #isOld(): boolean {
    return Date.now() - this.#createdAt >= ticketLifetimeSeconds * 1000;
  }

  #rotateIfOld(): void {
    if (!this.#isOld()) return;
    try {
      this.rotate();
    } catch (error) {
      this.#onError(error as ServerError);
    }
  }

  #save(): void {
    if (this.#path !== undefined) writeFileAtomic(this.#path, this.#key, 0o600);
  }
}

/** The key in `path` and when it was written, or nothing when there is no file or it is no key. */
function readKey(path: string): { key: Buffer; writtenAt: number } | undefined {
  try {
    const stat = statSync(path);
    if ((stat.mode & 0o077) !== 0) chmodSync(path, 0o600);
    const key = readFileSync(path);
    return key.length === ticketKeyBytes ? { key, writtenAt: stat.mtimeMs } : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
