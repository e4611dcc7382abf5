import type { X509Certificate } from "node:crypto";
import { canonicalSerial } from "@pier/pki";

/**
 * One revoked certificate: its issuer's name and its serial. The issuer is a distinguished name
 * as `X509Certificate#subject` / `#issuer` shows it (`CN=Pier CA\nO=Pier`); the `CN=…, O=…` form
 * the store and the audit use is accepted too. The serial is hex, any case, colons allowed.
 */
export interface RevocationEntry {
  readonly issuer: string;
  readonly serial: string;
}

/**
 * Where revocations come from. Each source is replaced as a whole by `setSource` (an operator
 * CRL re-read from its file) or grown by `add` (a revocation made through the API), and never
 * touches the others.
 * - `built-in`: the built-in CA's revoked device certificates (`device_certificates`);
 * - `operator-crl`: the entries of `--mtlscrl` / `--sslcrl` / the uploaded CRL.
 */
export type RevocationSource = "built-in" | "operator-crl";

/** What changed: the entries a source gained (a replaced source reports what it did not list before). */
export interface RevocationChange {
  readonly source: RevocationSource;
  readonly added: readonly RevocationEntry[];
}

/**
 * The name form both sides are compared in: one attribute per line, trimmed, lower case.
 * Distinguished names compare case-insensitively for the attributes CAs use (RFC 5280 §7.1).
 */
export function issuerKey(name: string): string {
  return name
    .split(/\n|,\s*(?=[A-Za-z][A-Za-z0-9.-]*=)/)
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part.length > 0)
    .join("\n");
}

function entryKey(issuer: string, serial: string): string {
  return keyOf(issuerKey(issuer), canonicalSerial(serial));
}

function keyOf(issuer: string, serial: string): string {
  return `${issuer}\u0000${serial}`;
}

function serialOf(key: string): string {
  return key.slice(key.lastIndexOf("\u0000") + 1);
}

/**
 * The revoked certificates the TLS fronts and the edge routes check, in memory: a set per
 * source keyed by (issuer name, serial), so a handshake costs two string operations and a
 * lookup, never a database read (docs/identity.md, "Revocation"). Listeners hear every change;
 * the server uses them to re-key TLS session tickets and close connections.
 *
 * @example
 * const revocations = new RevocationRegistry();
 * revocations.setSource("built-in", await store.certificates.revokedUnexpired());
 * if (revocations.isRevoked(socket.getPeerX509Certificate())) socket.destroy();
 */
export class RevocationRegistry {
  readonly #sources = new Map<RevocationSource, Set<string>>();
  readonly #listeners = new Set<(change: RevocationChange) => void>();
  // A connection's certificate is checked at its handshake and again at each revocation.
  readonly #keys = new WeakMap<X509Certificate, string>();
  // How many entries of all sources carry each serial. A handshake reads the certificate's
  // serial only, and its issuer's name (twice as dear, then normalised) only when some revoked
  // certificate has that serial: ~45 µs less per handshake (issue 20, bench:handshakes).
  readonly #serials = new Map<string, number>();

  /** How many entries the sources hold in all. */
  get size(): number {
    let total = 0;
    for (const entries of this.#sources.values()) total += entries.size;
    return total;
  }

  /** True when a source lists the certificate (by its issuer's name and its serial). */
  isRevoked(certificate: X509Certificate): boolean {
    if (this.#serials.size === 0) return false;
    let key = this.#keys.get(certificate);
    if (key === undefined) {
      const serial = canonicalSerial(certificate.serialNumber);
      if (!this.#serials.has(serial)) return false;
      key = keyOf(issuerKey(certificate.issuer), serial);
      this.#keys.set(certificate, key);
    }
    for (const entries of this.#sources.values()) if (entries.has(key)) return true;
    return false;
  }

  /** True when a source lists this (issuer, serial). */
  has(entry: RevocationEntry): boolean {
    const key = entryKey(entry.issuer, entry.serial);
    for (const entries of this.#sources.values()) if (entries.has(key)) return true;
    return false;
  }

  /** Replaces what one source lists; listeners hear the entries it did not list before. */
  setSource(source: RevocationSource, entries: Iterable<RevocationEntry>): void {
    const previous = this.#sources.get(source) ?? new Set<string>();
    const next = new Set<string>();
    const added: RevocationEntry[] = [];
    for (const entry of entries) {
      const key = entryKey(entry.issuer, entry.serial);
      if (next.has(key)) continue;
      next.add(key);
      if (!previous.has(key)) added.push(entry);
    }
    this.#sources.set(source, next);
    for (const key of previous) this.#countSerial(key, -1);
    for (const key of next) this.#countSerial(key, 1);
    if (added.length > 0) this.#emit({ source, added });
  }

  /** Adds entries to one source; listeners hear the ones that are new. */
  add(source: RevocationSource, entries: Iterable<RevocationEntry>): void {
    let set = this.#sources.get(source);
    if (!set) {
      set = new Set<string>();
      this.#sources.set(source, set);
    }
    const added: RevocationEntry[] = [];
    for (const entry of entries) {
      const key = entryKey(entry.issuer, entry.serial);
      if (set.has(key)) continue;
      set.add(key);
      this.#countSerial(key, 1);
      added.push(entry);
    }
    if (added.length > 0) this.#emit({ source, added });
  }

  /**
   * Calls `listener` after every change; returns the function that stops it. A listener that
   * throws does not keep the others from hearing the change.
   */
  onChange(listener: (change: RevocationChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #countSerial(key: string, by: 1 | -1): void {
    const serial = serialOf(key);
    const count = (this.#serials.get(serial) ?? 0) + by;
    if (count > 0) this.#serials.set(serial, count);
    else this.#serials.delete(serial);
  }

  #emit(change: RevocationChange): void {
    const failures: unknown[] = [];
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, "revocation listeners failed");
  }
}
