import { X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { certificateToPem, encodeName, generateKeyPair, keyIdentifier, loadPrivateKey, parseCertificate, privateKeyToPem, profileExtensions, signCertificate, type SubjectAltName } from "@pier/pki";
import { ServerError } from "../errors.ts";

/** Where the peer CA lives in `cluster_files` (sealed by the cluster's secret box). */
export const peerCaFiles = { certificate: "peer/ca.crt", key: "peer/ca.key" } as const;

/** How long the peer CA lives: ten years (it never leaves the cluster's database and replicas). */
const caLifetimeMs = 10 * 365 * 86_400_000;

/** How long a replica's peer certificate lives: three days, re-issued with a third left (`PeerIdentity`). */
export const peerCertificateLifetimeMs = 3 * 86_400_000;

/** `spiffe://<trust domain>/replica/<id>`: the name every peer certificate carries, and the only one the peer channel trusts. */
const replicaUriPattern = /(?:^|, )URI:spiffe:\/\/[a-z0-9._-]{1,253}\/replica\/([A-Za-z0-9-]{1,64})(?=,|$)/;

/** What a replica presents on the peer channel, as server and as client. */
export interface PeerCredentials {
  /** The peer CA's certificate: the only CA peer connections trust. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
}

/**
 * The shared files the peer CA is kept in (`cluster_files`, sealed: the adapter seals on write
 * and opens on read), and the cluster-wide lock its creation runs under.
 */
export interface PeerCaVault {
  read(name: string): Promise<Buffer | null>;
  write(files: readonly { name: string; content: Buffer }[]): Promise<void>;
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The replica id a peer certificate names (its `spiffe://…/replica/<id>` URI SAN), from Node's
 * `subjectaltname` text; `undefined` when it names no replica.
 *
 * @example
 * replicaIdOf("URI:spiffe://pier.local/replica/5f0c…"); // "5f0c…"
 */
export function replicaIdOf(subjectAltName: string | undefined): string | undefined {
  return subjectAltName === undefined ? undefined : replicaUriPattern.exec(subjectAltName)?.[1];
}

/** The host part of a peer address `host:port` or `[v6]:port`. */
export function peerHost(peerAddress: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peerAddress);
  if (bracketed?.[1]) return bracketed[1];
  const colon = peerAddress.lastIndexOf(":");
  return colon > 0 ? peerAddress.slice(0, colon) : peerAddress;
}

/**
 * The cluster's peer CA (docs/architecture.md "Reaching a device on another replica"): a P-256
 * CA of its own, separate from the device CA, so no device certificate ever opens the peer
 * listener. It signs one certificate per replica start, for mutual TLS both ways.
 */
export class PeerCa {
  readonly certificatePem: string;
  readonly #certificate: X509Certificate;
  readonly #key: KeyObject;
  /** The CA's subject, byte for byte: a leaf's issuer must match it exactly (RFC 5280 §7.1). */
  readonly #subject: Buffer;

  private constructor(certificatePem: string, key: KeyObject) {
    this.certificatePem = certificatePem;
    this.#certificate = new X509Certificate(certificatePem);
    this.#subject = parseCertificate(this.#certificate.raw).subjectDer;
    this.#key = key;
  }

  /**
   * The cluster's peer CA from the vault, created exactly once (under the vault's lock) by
   * whichever replica comes first; the others find it.
   *
   * @example
   * const ca = await PeerCa.openOrCreate(vault);
   */
  static async openOrCreate(vault: PeerCaVault, now = new Date()): Promise<PeerCa> {
    // Without the lock, the two files are read one after the other: a replica creating the CA
    // meanwhile may be seen half-way (the certificate not yet, the key already). Only a read
    // under the lock, which the creator holds until both are written, decides.
    const found = await PeerCa.#read(vault).catch(() => undefined);
    if (found) return found;
    return vault.withLock(async () => {
      const raced = await PeerCa.#read(vault);
      if (raced) return raced;
      const created = await PeerCa.create(now);
      await vault.write([
        { name: peerCaFiles.certificate, content: Buffer.from(created.certificatePem) },
        { name: peerCaFiles.key, content: Buffer.from(privateKeyToPem(created.#key)) },
      ]);
      return created;
    });
  }

  /** A new peer CA (P-256, ten years). */
  static async create(now = new Date()): Promise<PeerCa> {
    const { privateKey, publicKey } = await generateKeyPair("ecdsa-p256");
    const subject = encodeName({ organization: "Pier", commonName: "Pier peer CA" });
    const der = signCertificate({
      subject,
      issuer: subject,
      publicKey,
      signingKey: privateKey,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + caLifetimeMs),
      extensions: profileExtensions("ca", { subjectKey: publicKey, issuerKeyId: keyIdentifier(publicKey), pathLength: 0 }),
    });
    return new PeerCa(certificateToPem(der), privateKey);
  }

  static async #read(vault: PeerCaVault): Promise<PeerCa | undefined> {
    const [certificate, key] = await Promise.all([vault.read(peerCaFiles.certificate), vault.read(peerCaFiles.key)]);
    if (!certificate && !key) return undefined;
    if (!certificate || !key) {
      throw new ServerError("config_invalid", `The cluster's peer CA is incomplete in the database (${certificate ? peerCaFiles.key : peerCaFiles.certificate} is missing).`, {
        fix: `Delete both cluster files under peer/ (DELETE FROM cluster_files WHERE name LIKE 'peer/%') and restart the replicas: the first one creates a new peer CA.`,
      });
    }
    return new PeerCa(certificate.toString("utf8"), loadPrivateKey(key));
  }

  /**
   * A certificate for replica `replicaId` reached at `peerAddress` (P-256, EKU serverAuth and
   * clientAuth, URI SAN `spiffe://<trustDomain>/replica/<id>`, DNS or IP SAN of the address),
   * valid `lifetimeMs` (default three days, never past the CA's end).
   */
  async issue(request: { readonly replicaId: string; readonly peerAddress: string; readonly trustDomain: string; readonly lifetimeMs?: number; readonly now?: Date }): Promise<PeerCredentials> {
    const now = request.now ?? new Date();
    const { privateKey, publicKey } = await generateKeyPair("ecdsa-p256");
    const host = peerHost(request.peerAddress);
    const names: SubjectAltName[] = [{ type: "uri", value: `spiffe://${request.trustDomain}/replica/${request.replicaId}` }];
    if (isIP(host)) names.push({ type: "ip", value: host });
    else if (/^[A-Za-z0-9.-]{1,253}$/.test(host)) names.push({ type: "dns", value: host.toLowerCase() });
    const notAfter = new Date(Math.min(now.getTime() + (request.lifetimeMs ?? peerCertificateLifetimeMs), new Date(this.#certificate.validTo).getTime()));
    const der = signCertificate({
      subject: encodeName({ organization: "Pier", commonName: `replica ${request.replicaId}`.slice(0, 64) }),
      issuer: this.#subject,
      publicKey,
      signingKey: this.#key,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      extensions: profileExtensions("server", {
        subjectKey: publicKey,
        issuerKeyId: keyIdentifier(this.#certificate.publicKey),
        subjectAltNames: names,
        extendedKeyUsages: ["serverAuth", "clientAuth"],
      }),
    });
    return { ca: this.certificatePem, cert: certificateToPem(der), key: privateKeyToPem(privateKey), notAfter };
  }
}
