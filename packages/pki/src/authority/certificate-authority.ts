import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createHash, type KeyObject } from "node:crypto";
import { PkiError } from "../errors.ts";
import { type CertificateInfo, type CertificateSpec, certificateToPem, parseCertificate, randomSerial, signCertificate } from "../certificate.ts";
import { crlToPem, signCrl, type RevocationReason, type RevokedEntry } from "../crl.ts";
import { formatDuration } from "../duration.ts";
import { parseCsr } from "../csr.ts";
import { keyIdentifier } from "../extensions.ts";
import { type KeyType, defaultKeyType, generateKeyPair, loadPrivateKey, privateKeyToPem, spkiSha256 } from "../keys.ts";
import { type SubjectAltName, commonNameOf, encodeName, formatSan } from "../names.ts";
import { parsePem } from "../pem.ts";
import { type Profile, profileExtensions } from "../profiles.ts";
import { withLock, writeFileAtomic, writeNewFile } from "./files.ts";

/** Leaf profiles an authority issues. */
export type LeafProfile = Exclude<Profile, "ca">;

/** One certificate in the CA's index. */
export interface IssuedRecord {
  readonly serialNumber: string;
  readonly subject: string;
  readonly profile: LeafProfile;
  readonly subjectAltNames: string[];
  readonly notBefore: string;
  readonly notAfter: string;
  readonly fingerprintSha256: string;
  readonly issuedAt: string;
  revoked?: { at: string; reason: RevocationReason };
}

/** An index entry with its status at the time of listing. */
export interface ListedCertificate extends IssuedRecord {
  readonly status: "valid" | "expired" | "revoked";
}

interface CaState {
  format: "pier-ca/1";
  keyType: string;
  createdAt: string;
  /** Number of the last CRL written; the next one gets crlNumber + 1 (RFC 5280 §5.2.3). */
  crlNumber: number;
  issued: IssuedRecord[];
  /**
   * Set once a device signer exists: this CA also signs certificates it does not index (a
   * server's device certificates, kept in the server's database), so `revoke` accepts serials
   * outside `issued` and records them in `externalRevoked`.
   */
  externalSerials?: boolean;
  externalRevoked?: ExternalRevocation[];
}

/** A revoked serial this CA signed without indexing it (a device certificate of a server). */
export interface ExternalRevocation {
  readonly serialNumber: string;
  readonly revoked: { readonly at: string; readonly reason: RevocationReason };
  readonly external: true;
}

/** What a leaf certificate should say; the CA's policy fills in the rest. */
export interface LeafRequest {
  readonly profile: LeafProfile;
  readonly commonName?: string;
  readonly subjectAltNames?: readonly SubjectAltName[];
  /** Lifetime in whole days (default per profile, see `defaultDays`); or `lifetimeSeconds`. */
  readonly days?: number;
  /** Lifetime in seconds, `leafLifetimeLimits` apart; instead of `days` (device certificates). */
  readonly lifetimeSeconds?: number;
  /** URIs written as the cRLDistributionPoints extension (RFC 5280 §4.2.1.13). */
  readonly crlDistributionPoints?: readonly string[];
  /**
   * Test only: `lifetimeSeconds` may go down to `leafLifetimeLimits.testMinSeconds` (the
   * end-to-end tests' renewals and expiries, `PIER_SERVER_TEST_SHORT_CERTS=1`).
   */
  readonly testShortLifetime?: boolean;
}

/**
 * Bounds of `LeafRequest.lifetimeSeconds`: 60 s, and 397 days (the CA/Browser Forum's ceiling);
 * 10 s for a request marked `testShortLifetime`.
 */
export const leafLifetimeLimits = { minSeconds: 60, testMinSeconds: 10, maxSeconds: 397 * 86_400 } as const;

/** A certificate signed by a `LeafSigner`; nothing of it was written to the CA directory. */
export interface SignedLeaf {
  readonly certificatePem: string;
  readonly der: Buffer;
  /** Lowercase hex without leading zero bytes, as `X509Certificate.serialNumber` shows it lowercased. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the subject's SubjectPublicKeyInfo, lowercase hex. */
  readonly spkiSha256: string;
  /** SHA-256 of the certificate, lowercase hex. */
  readonly fingerprintSha256: string;
}

/** Signs leaf certificates in memory, for a caller that keeps its own records (see `deviceSigner`). */
export interface LeafSigner {
  /** The issuing CA's certificate. */
  readonly caCertificate: CertificateInfo;
  /** Signs a certificate for `publicKey`; synchronous, no I/O. Throws PkiError on a bad request. */
  sign(publicKey: KeyObject, request: LeafRequest): SignedLeaf;
}

/** A CRL signed by `signCrlFor`. */
export interface SignedCrl {
  readonly der: Buffer;
  readonly pem: string;
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

/** A signed certificate and its index entry. */
export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly record: IssuedRecord;
}

/** Default lifetimes in days. */
export const defaultDays = { ca: 3650, server: 365, client: 365 } as const;

/** Clock skew tolerated by back-dating notBefore; devices on the internet drift. */
const backdateMs = 5 * 60_000;

/**
 * Pier's built-in certificate authority, kept in a directory:
 * `ca.crt`, `ca.key` (0600, optionally encrypted PKCS#8), `ca-state.json` (0600: CRL number
 * and index) and `issued/SERIAL.crt` (0600), the directories 0700. Each mutation holds `DIR/.lock`.
 *
 * @example
 * const ca = await CertificateAuthority.create("./ca", { commonName: "Acme Edge CA" });
 * const server = await ca.issueWithNewKey({ profile: "server", subjectAltNames: parseSanList("DNS:pier.example.com") });
 */
export class CertificateAuthority {
  readonly dir: string;
  readonly certificate: CertificateInfo;
  readonly #passphrase: string | undefined;
  #signingKey: KeyObject | undefined;
  readonly #keyId: Buffer;

  private constructor(dir: string, certificate: CertificateInfo, passphrase: string | undefined) {
    this.dir = dir;
    this.certificate = certificate;
    this.#passphrase = passphrase;
    this.#keyId = certificate.extensions.subjectKeyId ? Buffer.from(certificate.extensions.subjectKeyId, "hex") : keyIdentifier(certificate.publicKey);
  }

  /** Creates a new CA in `dir`; refuses when one exists there. */
  static async create(
    dir: string,
    options: { keyType?: KeyType; commonName?: string; days?: number; passphrase?: string } = {},
  ): Promise<CertificateAuthority> {
    const paths = caPaths(dir);
    if (existsSync(paths.certificate) || existsSync(paths.key) || existsSync(paths.state)) {
      throw new PkiError("ca_exists", `A CA already exists in ${dir}; Pier never overwrites one. Use another --dir, or remove the old CA deliberately.`);
    }
    const days = checkDays(options.days ?? defaultDays.ca);
    const keyType = options.keyType ?? defaultKeyType;
    const { privateKey, publicKey } = await generateKeyPair(keyType);
    mkdirSync(paths.issued, { recursive: true, mode: 0o700 });
    const subject = encodeName({ commonName: options.commonName ?? "Pier CA" });
    const now = Date.now();
    const keyId = keyIdentifier(publicKey);
    const der = signCertificate({
      subject,
      issuer: subject,
      publicKey,
      signingKey: privateKey,
      notBefore: new Date(now - backdateMs),
      notAfter: new Date(now + days * 86_400_000),
      extensions: profileExtensions("ca", { subjectKey: publicKey, issuerKeyId: keyId }),
    });
    const certificate = parseCertificate(der);
    return withLock(paths.lock, () => {
      writeNewFile(paths.key, privateKeyToPem(privateKey, options.passphrase), 0o600);
      writeNewFile(paths.certificate, certificateToPem(der));
      const state: CaState = { format: "pier-ca/1", keyType, createdAt: new Date(now).toISOString(), crlNumber: 0, issued: [] };
      // The CA's state (serials, CRL number, what it issued) is its own business: 0600 like the key (issue 16).
      writeNewFile(paths.state, JSON.stringify(state, null, 2), 0o600);
      return new CertificateAuthority(dir, certificate, options.passphrase);
    });
  }

  /** Opens an existing CA. The key is read (and decrypted) only when something is signed. */
  static open(dir: string, options: { passphrase?: string } = {}): CertificateAuthority {
    const paths = caPaths(dir);
    if (!existsSync(paths.certificate) || !existsSync(paths.state)) {
      throw new PkiError("ca_not_found", `No Pier CA in ${dir} (expected ca.crt and ca-state.json). Create one with: pier ca init --dir ${dir}`);
    }
    const [block] = parsePem(readFileSync(paths.certificate));
    if (!block || block.label !== "CERTIFICATE") throw new PkiError("ca_state_corrupt", `${paths.certificate} does not hold a PEM certificate.`);
    return new CertificateAuthority(dir, parseCertificate(block.der), options.passphrase);
  }

  /** The CA certificate as PEM (what servers and agents trust). */
  get certificatePem(): string {
    return certificateToPem(this.certificate.der);
  }

  /** Generates a key pair and issues a certificate for it; the key never touches the CA's disk. */
  async issueWithNewKey(request: LeafRequest & { keyType?: KeyType }): Promise<IssuedCertificate & { privateKeyPem: string }> {
    this.#checkRequest(request);
    const { privateKey, publicKey } = await generateKeyPair(request.keyType ?? defaultKeyType);
    const issued = await this.issueForKey(publicKey, request);
    return { ...issued, privateKeyPem: privateKeyToPem(privateKey) };
  }

  /**
   * Signs a PKCS#10 request. Policy (docs/pki.md): the CSR contributes only its public key,
   * after its self-signature is verified. Subject and SANs come from `request`; when no
   * common name is given, the CSR's CN is used. Everything else the CSR asks for (SANs,
   * CA:TRUE, key usages) is ignored and reported in `ignored`.
   */
  async signCsr(csrDer: Buffer, request: LeafRequest): Promise<IssuedCertificate & { ignored: string[] }> {
    const csr = parseCsr(csrDer);
    if (!csr.signatureValid) {
      throw new PkiError("csr_signature_invalid", "The CSR's signature does not verify with its own public key: it was altered or not made by the key holder. Ask for a new CSR.");
    }
    const commonName = request.commonName ?? commonNameOf(csr.subject);
    const ignored: string[] = [];
    const requested = csr.requestedExtensions;
    const granted = new Set((request.subjectAltNames ?? []).map(formatSan));
    const notGranted = (requested.subjectAltNames ?? []).map(formatSan).filter((san) => !granted.has(san));
    if (notGranted.length > 0) ignored.push(`requested subjectAltNames not granted: ${notGranted.join(", ")} (add them with --san to approve them)`);
    if (requested.basicConstraints?.ca) ignored.push("requested CA:TRUE ignored (Pier issues leaf certificates only)");
    if (requested.extKeyUsage || requested.keyUsage) ignored.push(`requested key usages ignored; the ${request.profile} profile decides them`);
    const issued = await this.issueForKey(csr.publicKey, { ...request, ...(commonName === undefined ? {} : { commonName }) });
    return { ...issued, ignored };
  }

  /** Issues a certificate for a public key under a leaf profile, and records it in the index. */
  async issueForKey(publicKey: KeyObject, request: LeafRequest): Promise<IssuedCertificate> {
    const now = Date.now();
    const template = this.#leafTemplate(publicKey, request, now);
    const signingKey = this.#key();
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      let serial = randomSerial();
      while (state.issued.some((r) => r.serialNumber === canonicalSerial(serial.toString("hex")))) serial = randomSerial();
      const der = signCertificate({ ...template, signingKey, serial });
      const info = parseCertificate(der);
      const record: IssuedRecord = {
        serialNumber: info.serialNumber,
        subject: info.subjectText,
        profile: request.profile,
        subjectAltNames: (request.subjectAltNames ?? []).map(formatSan),
        notBefore: info.notBefore.toISOString(),
        notAfter: info.notAfter.toISOString(),
        fingerprintSha256: info.fingerprintSha256,
        issuedAt: new Date(now).toISOString(),
      };
      const certificatePem = certificateToPem(der);
      writeFileAtomic(join(caPaths(this.dir).issued, `${info.serialNumber}.crt`), certificatePem, 0o600);
      state.issued.push(record);
      this.#writeState(state);
      return { certificatePem, record };
    });
  }

  /**
   * A signer for a server's device certificates: the CA key is loaded once, and each `sign`
   * builds and signs in memory, writing nothing to the CA directory (the server records its
   * devices in its database; rewriting the JSON index per issuance would make 15,000 renewals
   * quadratic). Serials are 128 random bits, so no index is needed to keep them unique.
   * The first call marks the CA as signing unindexed serials (once, in `ca-state.json`), so
   * `revoke` (and `pier ca revoke`) accepts a device certificate's serial.
   *
   * @example
   * const signer = await ca.deviceSigner();
   * const leaf = signer.sign(csr.publicKey, { profile: "client", commonName: edgeId, lifetimeSeconds: 30 * 86_400 });
   */
  async deviceSigner(): Promise<LeafSigner> {
    const signingKey = this.#key();
    if (!this.#readState().externalSerials) {
      await withLock(caPaths(this.dir).lock, () => {
        const state = this.#readState();
        state.externalSerials = true;
        this.#writeState(state);
      });
    }
    return {
      caCertificate: this.certificate,
      sign: (publicKey, request) => {
        const template = this.#leafTemplate(publicKey, request, wholeSecondsNow());
        const serial = randomSerial();
        const der = signCertificate({ ...template, signingKey, serial });
        return {
          certificatePem: certificateToPem(der),
          der,
          serialNumber: canonicalSerial(serial.toString("hex")),
          notBefore: template.notBefore,
          notAfter: template.notAfter,
          spkiSha256: spkiSha256(publicKey),
          fingerprintSha256: createHash("sha256").update(der).digest("hex"),
        };
      },
    };
  }

  /**
   * Marks a certificate revoked; it appears in every CRL generated from now on. A serial
   * outside the index is accepted when this CA signs device certificates (see `deviceSigner`)
   * and recorded as an `ExternalRevocation`.
   */
  async revoke(serialHex: string, reason: RevocationReason = "unspecified"): Promise<IssuedRecord | ExternalRevocation> {
    const serial = checkedSerial(serialHex);
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      const record = state.issued.find((r) => r.serialNumber === serial);
      if (!record) {
        if (state.externalSerials) return this.#recordExternal(state, serial, reason);
        throw new PkiError("certificate_not_found", `This CA has not issued a certificate with serial ${serial}. List them with: pier ca list --dir ${this.dir}`);
      }
      if (record.revoked) throw new PkiError("already_revoked", `Certificate ${serial} was already revoked on ${record.revoked.at} (${record.revoked.reason}).`);
      record.revoked = { at: new Date().toISOString(), reason };
      this.#writeState(state);
      return record;
    });
  }

  /**
   * Records the revocation of a certificate this CA signed without indexing it (a device
   * certificate from `deviceSigner`), in `ca-state.json`; `generateCrl` lists it from now on.
   */
  async revokeExternal(serialHex: string, reason: RevocationReason = "unspecified"): Promise<ExternalRevocation> {
    const serial = checkedSerial(serialHex);
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      if (state.issued.some((r) => r.serialNumber === serial)) {
        throw new PkiError("invalid_argument", `Serial ${serial} is in this CA's own index; revoke it with revoke(), not as an external serial.`);
      }
      return this.#recordExternal(state, serial, reason);
    });
  }

  /** Unindexed serials revoked through `revoke`/`revokeExternal` (what a server watching `ca-state.json` reads). */
  externalRevocations(): RevokedEntry[] {
    return (this.#readState().externalRevoked ?? []).map((r) => ({ serialNumber: r.serialNumber, revokedAt: new Date(r.revoked.at), reason: r.revoked.reason }));
  }

  /**
   * Signs a CRL from a caller's own revoked list (a server's `device_certificates`), with the
   * CRL number it chooses; nothing is read from or written to the CA directory. `pier ca crl`
   * keeps using `generateCrl`.
   *
   * @example
   * const crl = ca.signCrlFor([{ serialNumber: "1f…", revokedAt: new Date(), reason: "keyCompromise" }], { crlNumber: 42, nextUpdateDays: 7 });
   */
  signCrlFor(revoked: readonly RevokedEntry[], options: { crlNumber: number; nextUpdateDays?: number; nextUpdateSeconds?: number; thisUpdate?: Date }): SignedCrl {
    if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) throw new PkiError("invalid_argument", `A CRL number is a whole number of at least 0, got ${options.crlNumber}.`);
    const seconds = options.nextUpdateSeconds ?? checkDays(options.nextUpdateDays ?? 7) * 86_400;
    if (!Number.isInteger(seconds) || seconds < 1) throw new PkiError("invalid_argument", `A CRL's next update must be at least 1 s away, got ${seconds} s.`);
    const thisUpdate = new Date(Math.floor((options.thisUpdate ?? new Date()).getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + seconds * 1000);
    for (const entry of revoked) checkedSerial(entry.serialNumber);
    const der = signCrl({ issuer: this.certificate.subjectDer, issuerKeyId: this.#keyId, signingKey: this.#key(), crlNumber: options.crlNumber, thisUpdate, nextUpdate, revoked });
    return { der, pem: crlToPem(der), crlNumber: options.crlNumber, thisUpdate, nextUpdate };
  }

  /** Signs a new CRL listing every revoked certificate (indexed and external), with the next CRL number. */
  async generateCrl(options: { days?: number } = {}): Promise<{ pem: string; crlNumber: number; nextUpdate: Date }> {
    const days = checkDays(options.days ?? 7);
    const signingKey = this.#key();
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      state.crlNumber += 1;
      const thisUpdate = new Date();
      const nextUpdate = new Date(thisUpdate.getTime() + days * 86_400_000);
      const external = (state.externalRevoked ?? []).map((r) => ({ serialNumber: r.serialNumber, revokedAt: new Date(r.revoked.at), reason: r.revoked.reason }));
      const der = signCrl({
        issuer: this.certificate.subjectDer,
        issuerKeyId: this.#keyId,
        signingKey,
        crlNumber: state.crlNumber,
        thisUpdate,
        nextUpdate,
        revoked: [...state.issued.flatMap((r) => (r.revoked ? [{ serialNumber: r.serialNumber, revokedAt: new Date(r.revoked.at), reason: r.revoked.reason }] : [])), ...external],
      });
      this.#writeState(state);
      return { pem: crlToPem(der), crlNumber: state.crlNumber, nextUpdate };
    });
  }

  /** Every certificate this CA issued, with its current status. */
  list(now = new Date()): ListedCertificate[] {
    return this.#readState().issued.map((record) => ({
      ...record,
      status: record.revoked ? "revoked" : new Date(record.notAfter) < now ? "expired" : "valid",
    }));
  }

  /** Finds an issued certificate by its PEM/DER content (for `revoke --cert`). */
  serialOf(certificateDer: Buffer): string {
    const info = parseCertificate(certificateDer);
    if (!info.x509.checkIssued(this.certificate.x509) || !info.x509.verify(this.certificate.publicKey)) {
      throw new PkiError("certificate_not_found", `That certificate (${info.subjectText}, serial ${info.serialNumber}) was not issued by this CA (${this.certificate.subjectText}).`);
    }
    return info.serialNumber;
  }

  /** Number of certificate files kept under `issued/` (for consistency checks). */
  issuedFileCount(): number {
    return readdirSync(caPaths(this.dir).issued).filter((f) => f.endsWith(".crt")).length;
  }

  #checkRequest(request: LeafRequest): void {
    if (request.profile === "server" && (request.subjectAltNames ?? []).length === 0) {
      throw new PkiError("invalid_san", "A server certificate needs at least one subjectAltName (clients ignore the CN): pass --san DNS:your.server.name (and IP:address if clients connect by IP).");
    }
    if (request.profile === "client" && request.commonName === undefined && (request.subjectAltNames ?? []).length === 0) {
      throw new PkiError("invalid_name", "A client certificate needs an identity: pass --cn NAME (for example the device's EDGE_ID).");
    }
  }

  /** Validates a leaf request and builds everything of its certificate but the serial and the key that signs. */
  #leafTemplate(publicKey: KeyObject, request: LeafRequest, now: number): Omit<CertificateSpec, "signingKey" | "serial"> {
    this.#checkRequest(request);
    const notAfter = new Date(now + this.#lifetimeMs(request, now));
    const sans = request.subjectAltNames ?? [];
    // Tools still display the CN; a server without one is named after its first SAN.
    const commonName = request.commonName ?? (request.profile === "server" ? sans[0]?.value : undefined);
    return {
      subject: encodeName(commonName === undefined ? {} : { commonName }),
      issuer: this.certificate.subjectDer,
      publicKey,
      notBefore: new Date(now - backdateMs),
      notAfter,
      extensions: profileExtensions(request.profile, {
        subjectKey: publicKey,
        issuerKeyId: this.#keyId,
        subjectAltNames: sans,
        subjectEmpty: commonName === undefined,
        ...(request.crlDistributionPoints ? { crlDistributionPoints: request.crlDistributionPoints } : {}),
      }),
    };
  }

  /** The requested lifetime in milliseconds, refused past the CA's own notAfter. */
  #lifetimeMs(request: LeafRequest, now: number): number {
    const caLeftMs = this.certificate.notAfter.getTime() - now;
    if (request.lifetimeSeconds === undefined) {
      const days = checkDays(request.days ?? defaultDays[request.profile]);
      if (days * 86_400_000 > caLeftMs) {
        throw new PkiError("invalid_argument", `--days ${days} would outlive the CA, which expires ${this.certificate.notAfter.toISOString()}; use --days ${Math.floor(caLeftMs / 86_400_000)} or less, or rotate the CA.`);
      }
      return days * 86_400_000;
    }
    if (request.days !== undefined) throw new PkiError("invalid_argument", "Give a certificate lifetime in days or in seconds, not both.");
    const seconds = request.lifetimeSeconds;
    const { maxSeconds } = leafLifetimeLimits;
    const minSeconds = request.testShortLifetime ? leafLifetimeLimits.testMinSeconds : leafLifetimeLimits.minSeconds;
    if (!Number.isInteger(seconds) || seconds < minSeconds || seconds > maxSeconds) {
      throw new PkiError("invalid_argument", `A certificate lifetime must be a whole number of seconds from ${minSeconds} (${minSeconds}s) to ${maxSeconds} (397d), got ${seconds}.`);
    }
    if (seconds * 1000 > caLeftMs) {
      const left = Math.max(0, Math.floor(caLeftMs / 1000));
      throw new PkiError(
        "invalid_argument",
        `A lifetime of ${formatDuration(seconds)} would outlive the CA, which expires ${this.certificate.notAfter.toISOString()} (${formatDuration(left)} from now); choose a shorter lifetime or rotate the CA.`,
      );
    }
    return seconds * 1000;
  }

  #recordExternal(state: CaState, serial: string, reason: RevocationReason): ExternalRevocation {
    const list = (state.externalRevoked ??= []);
    const earlier = list.find((r) => r.serialNumber === serial);
    if (earlier) throw new PkiError("already_revoked", `Certificate ${serial} was already revoked on ${earlier.revoked.at} (${earlier.revoked.reason}).`);
    const entry: ExternalRevocation = { serialNumber: serial, revoked: { at: new Date().toISOString(), reason }, external: true };
    list.push(entry);
    this.#writeState(state);
    return entry;
  }

  #key(): KeyObject {
    this.#signingKey ??= loadPrivateKey(readFileSync(caPaths(this.dir).key), this.#passphrase);
    return this.#signingKey;
  }

  #readState(): CaState {
    const path = caPaths(this.dir).state;
    try {
      const state = JSON.parse(readFileSync(path, "utf8")) as CaState;
      if (state.format !== "pier-ca/1" || !Array.isArray(state.issued)) throw new Error(`unknown format ${String(state.format)}`);
      return state;
    } catch (error) {
      throw new PkiError("ca_state_corrupt", `${path} cannot be read (${(error as Error).message}). Restore it from a backup; issued certificates are also kept under issued/.`, { cause: error });
    }
  }

  #writeState(state: CaState): void {
    writeFileAtomic(caPaths(this.dir).state, JSON.stringify(state, null, 2), 0o600);
  }
}

/** File layout of a CA directory. */
export function caPaths(dir: string) {
  return {
    certificate: join(dir, "ca.crt"),
    key: join(dir, "ca.key"),
    state: join(dir, "ca-state.json"),
    issued: join(dir, "issued"),
    lock: join(dir, ".lock"),
  };
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) throw new PkiError("invalid_argument", `--days must be a whole number between 1 and 36500, got ${days}.`);
  return days;
}

/** Whole seconds: certificates and CRLs carry no fractions, so returned dates match the DER. */
function wholeSecondsNow(): number {
  return Math.floor(Date.now() / 1000) * 1000;
}

/** A canonical serial of at most 20 octets (RFC 5280 §4.1.2.2). */
function checkedSerial(text: string): string {
  const serial = canonicalSerial(text);
  if (serial.length > 40) throw new PkiError("invalid_argument", `A certificate serial number is at most 20 octets (40 hex digits), got ${serial.length / 2} octets.`);
  return serial;
}

/** Lowercase hex without separators or leading zero bytes, as the index stores serials. */
export function canonicalSerial(text: string): string {
  const hex = text.replace(/^0x/i, "").replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new PkiError("invalid_argument", `"${text}" is not a hexadecimal serial number.`);
  const even = hex.length % 2 ? `0${hex}` : hex;
  return even.replace(/^(00)+(?=..)/, "");
}
