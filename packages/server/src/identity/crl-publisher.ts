import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type CertificateAuthority, type RevocationReason, type RevokedEntry, parseRevocationReason, spkiSha256 } from "@pier/pki";
import type { Store } from "../store/index.ts";

/** One signed CRL of one device CA. */
export interface PublishedCrl {
  /** SPKI SHA-256 (hex) of the CA that signed it. */
  readonly caSpkiSha256: string;
  readonly der: Buffer;
  readonly pem: string;
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
}

/** Options of `CrlPublisher`. */
export interface CrlPublisherOptions {
  readonly store: Store;
  /** The device CAs, the issuing one first (`DeviceCa.issuing`, `DeviceCa.trusted`). */
  readonly authorities: () => { readonly issuing: CertificateAuthority; readonly trusted: readonly CertificateAuthority[] };
  /**
   * The data directory: a `crl-numbers.json` there (where Pier before migration 10 kept the CRL
   * numbers) is read once, its numbers the floor of the store's (`store.rotation.nextCrlNumber`).
   */
  readonly dataDir: string;
  /** A CRL's validity (next update − this update); default 7 days. */
  readonly nextUpdateSeconds?: number;
  /** How often the CRLs are signed again even without a revocation; default daily. */
  readonly refreshIntervalMs?: number;
  /** Called with the new CRLs after every signing (the tunnel listener's secure context takes them). */
  readonly onPublished?: (crls: readonly PublishedCrl[]) => void;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

const defaultNextUpdateSeconds = 7 * 86_400;
const defaultRefreshIntervalMs = 86_400_000;

function reasonOf(text: string | null): RevocationReason {
  try {
    return text === null ? "unspecified" : parseRevocationReason(text);
  } catch {
    return "unspecified";
  }
}

/**
 * Signs and keeps the built-in device CAs' CRLs (docs/identity.md, "Revocation"): one per CA
 * the tunnel listener trusts (two during a CA rotation), listing the revoked, unexpired rows of
 * `device_certificates` that CA signed and the serials `pier ca revoke` recorded in its
 * `ca-state.json`. Signed again at every revocation and daily, valid 7 days; CRL numbers come
 * from the store (`crl_numbers`), so they only grow, across restarts and whichever replica signs. `GET /api/pki/crl?ca=ID` serves the CA's whose SPKI SHA-256 starts
 * with ID (`crlCaId`), and without `ca` the issuing CA's.
 *
 * @example
 * const crls = new CrlPublisher({ store, authorities: () => deviceCa, dataDir, log });
 * await crls.publish();
 * response.end(crls.current()?.der);
 */
/** The `ca` of a CRL Distribution Point: the first 16 hex digits of the CA's SPKI SHA-256. */
export function crlCaId(caSpkiSha256: string): string {
  return caSpkiSha256.slice(0, 16);
}

export class CrlPublisher {
  readonly #options: CrlPublisherOptions;
  readonly #numbersPath: string;
  // The numbers of `crl-numbers.json`, read at the first signing (undefined before).
  #legacyNumbers: Record<string, number> | undefined;
  #published: readonly PublishedCrl[] = [];
  #timer: NodeJS.Timeout | undefined;
  // Signings are serialised: two revocations at once must not both take the same CRL number.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: CrlPublisherOptions) {
    this.#options = options;
    this.#numbersPath = join(options.dataDir, "crl-numbers.json");
  }

  /**
   * A CA's CRL, once `publish` has run: the one whose SPKI SHA-256 starts with `caId` (the
   * `?ca=` of the CRL Distribution Point each device certificate names, so a certificate of the
   * CA a rotation moves away from finds its own CRL), else the issuing CA's.
   */
  current(caId?: string): PublishedCrl | undefined {
    const wanted = caId ?? spkiSha256(this.#options.authorities().issuing.certificate.publicKey);
    return this.#published.find((crl) => crl.caSpkiSha256.startsWith(wanted));
  }

  /** Every CA's CRL (PEM), for a secure context's `crl` option. */
  pems(): string[] {
    return this.#published.map((crl) => crl.pem);
  }

  /** Signs every device CA's CRL again from the store and the CA state; resolves with them. */
  publish(now = new Date()): Promise<readonly PublishedCrl[]> {
    const next = this.#queue.then(() => this.#sign(now));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Signs again every `refreshIntervalMs`, so a CRL never reaches its next update. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.publish().catch((error: unknown) => this.#options.log("error", `could not sign the device CRL again: ${(error as Error).message}`));
    }, this.#options.refreshIntervalMs ?? defaultRefreshIntervalMs);
    this.#timer.unref();
  }

  /** Stops the daily signing. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #sign(now: Date): Promise<readonly PublishedCrl[]> {
    const { trusted } = this.#options.authorities();
    const rows = await this.#options.store.certificates.revokedUnexpired(now);
    this.#legacyNumbers ??= this.#readNumbers();
    const published: PublishedCrl[] = [];
    for (const ca of trusted) {
      const caSpkiSha256 = spkiSha256(ca.certificate.publicKey);
      const entries = new Map<string, RevokedEntry>();
      for (const row of rows) {
        if (row.caSpkiSha256 !== caSpkiSha256 || row.revokedAt === null) continue;
        entries.set(row.serial, { serialNumber: row.serial, revokedAt: row.revokedAt, reason: reasonOf(row.revocationReason) });
      }
      for (const entry of ca.externalRevocations()) if (!entries.has(entry.serialNumber)) entries.set(entry.serialNumber, entry);
      // Allocated before signing, so a crash never reuses one.
      const crlNumber = await this.#options.store.rotation.nextCrlNumber(caSpkiSha256, this.#legacyNumbers[caSpkiSha256] ?? 0);
      const signed = ca.signCrlFor([...entries.values()], { crlNumber, nextUpdateSeconds: this.#options.nextUpdateSeconds ?? defaultNextUpdateSeconds, thisUpdate: now });
      published.push({ caSpkiSha256, der: signed.der, pem: signed.pem, crlNumber, thisUpdate: signed.thisUpdate, nextUpdate: signed.nextUpdate, entries: entries.size });
    }
    this.#published = published;
    this.#options.onPublished?.(published);
    return published;
  }

  #readNumbers(): Record<string, number> {
    try {
      const parsed = JSON.parse(readFileSync(this.#numbersPath, "utf8")) as unknown;
      if (typeof parsed !== "object" || parsed === null) return {};
      return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => Number.isSafeInteger(entry[1])));
    } catch {
      return {};
    }
  }
}
