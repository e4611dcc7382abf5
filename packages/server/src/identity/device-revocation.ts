import type { X509Certificate } from "node:crypto";
import { type CertificateAuthority, type RevocationReason, canonicalSerial } from "@pier/pki";
import { refusedCodes } from "@pier/protocol";
import { ServerError } from "../errors.ts";
import type { DeviceCertificate, Environment, Store } from "../store/index.ts";
import type { CrlPublisher } from "./crl-publisher.ts";
import type { RevocationEntry, RevocationRegistry } from "./revocations.ts";

/** What a revocation closes on a TLS front (`TlsFront`). */
export interface RevocationFront {
  closeConnections(predicate: (certificate: X509Certificate) => boolean): number;
  rotateTicketKeys(): void;
}

/** Options of `DeviceRevocation`. */
export interface DeviceRevocationOptions {
  readonly store: Store;
  readonly registry: RevocationRegistry;
  /** Ends a device's session with a `refused` frame (`EdgeService.disconnect`); `isConnected` only for the log. */
  readonly sessions: { disconnect(environmentId: number, code: string, message: string): void; isConnected?(environmentId: number): boolean };
  /** Closes a device's Docker tunnels (`TunnelBroker.closeEnvironment`). */
  readonly tunnels: { closeEnvironment(environmentId: number, reason: string): number };
  /** The built-in CA's CRLs, signed again after each revocation; absent without a built-in CA. */
  readonly crls?: CrlPublisher;
  /**
   * How long a connection presenting a revoked certificate is kept after its session was told
   * why (`refused {code: "revoked"}`) before it is closed; default 100 ms. The frame needs a
   * turn of the event loop to leave; the whole stays well within the 1 s the issue allows.
   */
  readonly graceMs?: number;
  /**
   * Tells the other replicas (the `certificate_revoked` cluster event), after this server applied
   * a revocation; they call `applyAnnounced`. Absent: a single server.
   */
  readonly announce?: (revoked: { environmentId: number | null; serial: string }) => Promise<void>;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** What a revocation did. */
export interface RevocationOutcome {
  readonly serials: readonly string[];
  readonly reason: RevocationReason;
  /** Tunnels that were open and are now closed. */
  readonly tunnelsClosed: number;
}

const defaultGraceMs = 100;

/** The in-memory form of a revoked row: the issuer is the name the certificate carries. */
export function revocationEntryOf(row: Pick<DeviceCertificate, "issuer" | "serial">): RevocationEntry {
  return { issuer: row.issuer, serial: row.serial };
}

const revokedMessage = (environment: Pick<Environment, "id">, serials: readonly string[]) =>
  `This device's certificate (serial ${serials.join(", ")}) was revoked by an administrator; this session was closed. Stop the agent: only removing environment ${environment.id} in Pier lets this EDGE_ID enroll again.`;

/**
 * Revocation that takes effect at once (docs/identity.md, "Revocation"): marks the device's
 * certificates revoked in the store, adds them to the in-memory `RevocationRegistry` every
 * handshake checks, tells the device's session why and closes it, closes its Docker tunnels,
 * re-keys TLS session tickets, closes any other connection presenting a revoked certificate,
 * signs the CRL again and audits `certificate_revoked`.
 *
 * @example
 * const outcome = await revocation.revokeEnvironment(7, { reason: "keyCompromise", by: "admin" });
 */
export class DeviceRevocation {
  readonly #options: DeviceRevocationOptions;
  #fronts: readonly RevocationFront[] = [];

  constructor(options: DeviceRevocationOptions) {
    this.#options = options;
    // Every change, whatever its source (an operator CRL too): new tickets at once, then the
    // connections that present a now-revoked certificate, after the sessions were told why.
    options.registry.onChange(() => {
      for (const front of this.#fronts) front.rotateTicketKeys();
      setTimeout(() => this.#closeRevokedConnections(), options.graceMs ?? defaultGraceMs).unref();
    });
  }

  /** The fronts whose connections and tickets a revocation reaches (both listeners). */
  attach(fronts: readonly RevocationFront[]): void {
    this.#fronts = fronts;
  }

  /**
   * Fills the registry's `built-in` source from the store (revoked, unexpired device
   * certificates) and from the CAs' own records of `pier ca revoke`. Called at start.
   */
  async load(authorities: readonly CertificateAuthority[], now = new Date()): Promise<number> {
    const rows = await this.#options.store.certificates.revokedUnexpired(now);
    const entries = [...rows.map(revocationEntryOf), ...authorities.flatMap((ca) => ca.externalRevocations().map((entry) => ({ issuer: ca.certificate.x509.subject, serial: entry.serialNumber })))];
    this.#options.registry.setSource("built-in", entries);
    return entries.length;
  }

  /**
   * Revokes every unexpired certificate of an environment. Throws `not_found` (no such
   * environment) or `conflict` (nothing to revoke: no certificate, or all already revoked).
   */
  async revokeEnvironment(environmentId: number, request: { reason: RevocationReason; by: string }, now = new Date()): Promise<RevocationOutcome> {
    const { store } = this.#options;
    const environment = await store.environments.get(environmentId);
    if (!environment) throw new ServerError("not_found", `Environment ${environmentId} does not exist.`);
    const rows = await store.certificates.revokeForEnvironment(environmentId, { at: now, reason: request.reason });
    if (rows.length === 0) {
      const held = await store.certificates.listByEnvironment(environmentId);
      const revoked = held.find((row) => row.revokedAt !== null && row.notAfter > now);
      const name = environment.edgeId ?? environment.name;
      if (revoked) {
        throw new ServerError("conflict", `Environment ${environmentId} (${name}): its certificates are already revoked (serial ${revoked.serial}, on ${revoked.revokedAt?.toISOString() ?? "?"}, ${revoked.revocationReason ?? "unspecified"}).`, {
          fix: "Nothing more to do; remove the environment to let this EDGE_ID enroll again.",
        });
      }
      throw new ServerError("conflict", `Environment ${environmentId} (${name}) holds no unexpired certificate of the built-in CA, so there is nothing to revoke.`, {
        fix: "A device with an operator certificate is revoked in the operator's CRL (pier server --mtlscrl); a device that never got a certificate can simply be removed.",
      });
    }
    return this.#apply(environment, rows, request.reason, request.by);
  }

  /**
   * Revokes the certificates of an environment that is being removed, if it holds any; never
   * throws for "nothing to revoke". Call before the environment's row goes.
   */
  async revokeForRemoval(environmentId: number, by: string, now = new Date()): Promise<RevocationOutcome | undefined> {
    const environment = await this.#options.store.environments.get(environmentId);
    if (!environment) return undefined;
    const rows = await this.#options.store.certificates.revokeForEnvironment(environmentId, { at: now, reason: "cessationOfOperation" });
    if (rows.length === 0) return undefined;
    return this.#apply(environment, rows, "cessationOfOperation", by);
  }

  /**
   * Applies serials a CA recorded as revoked outside the server (`pier ca revoke --dir DATA/ca`
   * while the server runs): the recorded ones are marked in the store and their devices' sessions
   * closed; every one goes into the registry. Returns the serials that were new.
   */
  async applyCaRevocations(ca: CertificateAuthority, by: string): Promise<string[]> {
    const { store, registry } = this.#options;
    const external = ca.externalRevocations();
    const fresh: string[] = [];
    const rows: DeviceCertificate[] = [];
    for (const entry of external) {
      const serial = canonicalSerial(entry.serialNumber);
      const row = await store.certificates.get(serial);
      if (row ? row.revokedAt !== null : registry.has({ issuer: ca.certificate.x509.subject, serial })) continue;
      if (row) rows.push(...(await store.certificates.revoke([serial], { at: entry.revokedAt, reason: entry.reason })));
      fresh.push(serial);
    }
    if (fresh.length === 0) return [];
    const byEnvironment = Map.groupBy(rows, (row) => row.environmentId);
    for (const [environmentId, revoked] of byEnvironment) {
      const environment = await store.environments.get(environmentId);
      if (environment) await this.#apply(environment, revoked, (revoked[0]?.revocationReason as RevocationReason | null) ?? "unspecified", by);
    }
    // Serials the store does not know (issued before Pier recorded them) still count in handshakes.
    registry.add("built-in", fresh.map((serial) => ({ issuer: ca.certificate.x509.subject, serial })));
    if (rows.length === 0) await this.#publishCrl();
    return fresh;
  }

  /**
   * Applies a revocation another replica made (`certificate_revoked`), as the store records it:
   * the serial joins the registry with its row's issuer, and the device's session and tunnels
   * here close with the reason, as on the replica that revoked. An announcement the store does
   * not back (no row, or a row not revoked) is logged and ignored, so it cannot revoke anything
   * by itself. Idempotent: on the replica that revoked it finds nothing left to do.
   */
  async applyAnnounced(revoked: { serial: string }): Promise<void> {
    const { registry, sessions, tunnels, store, log } = this.#options;
    const serial = canonicalSerial(revoked.serial);
    const row = await store.certificates.get(serial);
    if (!row || row.revokedAt === null) {
      log("warn", `a replica announced that certificate ${serial} is revoked, but the store ${row ? "does not record it as revoked" : "does not know it"}; ignored`);
      return;
    }
    const entries = [revocationEntryOf(row)];
    const message = revokedMessage({ id: row.environmentId }, [serial]);
    const connected = sessions.isConnected?.(row.environmentId) ?? false;
    sessions.disconnect(row.environmentId, refusedCodes.revoked, message);
    const tunnelsClosed = tunnels.closeEnvironment(row.environmentId, message);
    if (connected || tunnelsClosed > 0) log("warn", `environment ${row.environmentId}: certificate ${serial} revoked on another replica; session and ${tunnelsClosed} tunnel(s) closed here`);
    if (entries.every((entry) => registry.has(entry))) return;
    registry.add("built-in", entries);
    // This replica's CRL lists it too (GET /api/pki/crl may land on any replica).
    await this.#publishCrl();
  }

  async #apply(environment: Environment, rows: readonly DeviceCertificate[], reason: RevocationReason, by: string): Promise<RevocationOutcome> {
    const { registry, sessions, tunnels, store, log } = this.#options;
    const serials = rows.map((row) => row.serial);
    const message = revokedMessage(environment, serials);
    // The session first, so its refused frame is on its way before the registry's listener
    // closes the connection; then the tunnels, whose Docker clients see their connection end.
    sessions.disconnect(environment.id, refusedCodes.revoked, message);
    const tunnelsClosed = tunnels.closeEnvironment(environment.id, message);
    registry.add("built-in", rows.map(revocationEntryOf));
    log("warn", `environment ${environment.id} (${environment.edgeId ?? environment.name}): certificate ${serials.join(", ")} revoked (${reason}) by ${by}; session and ${tunnelsClosed} tunnel(s) closed`);
    await this.#announce(serials.map((serial) => ({ environmentId: environment.id, serial })));
    await store.audit.append({ kind: "certificate_revoked", environmentId: environment.id, edgeId: environment.edgeId, detail: { serials, reason, by } });
    await this.#publishCrl();
    return { serials, reason, tunnelsClosed };
  }

  /** Tells the other replicas; a failure is logged: the revocation holds here and in the store, which they reload at their next resync or start. */
  async #announce(revoked: readonly { environmentId: number | null; serial: string }[]): Promise<void> {
    const { announce, log } = this.#options;
    if (!announce) return;
    for (const item of revoked) {
      try {
        await announce(item);
      } catch (error) {
        log("error", `could not tell the other replicas that certificate ${item.serial} is revoked: ${(error as Error).message}`);
      }
    }
  }

  async #publishCrl(): Promise<void> {
    try {
      await this.#options.crls?.publish();
    } catch (error) {
      // The revocation holds (store, registry); the CRL catches up at the next signing.
      this.#options.log("error", `the device CRL could not be signed again after a revocation: ${(error as Error).message}`);
    }
  }

  #closeRevokedConnections(): void {
    const { registry } = this.#options;
    for (const front of this.#fronts) front.closeConnections((certificate) => registry.isRevoked(certificate));
  }
}
