import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { PkiError } from "../errors.ts";
import { type CertificateInfo, certificateToPem, parseCertificate, randomSerial, signCertificate } from "../certificate.ts";
import { crlToPem, signCrl, type RevocationReason } from "../crl.ts";
import { parseCsr } from "../csr.ts";
import { keyIdentifier } from "../extensions.ts";
import { type KeyType, defaultKeyType, generateKeyPair, loadPrivateKey, privateKeyToPem } from "../keys.ts";
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
}

/** What a leaf certificate should say; the CA's policy fills in the rest. */
export interface LeafRequest {
  readonly profile: LeafProfile;
  readonly commonName?: string;
  readonly subjectAltNames?: readonly SubjectAltName[];
  readonly days?: number;
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

  /** Issues a certificate for a public key under a leaf profile. */
  async issueForKey(publicKey: KeyObject, request: LeafRequest): Promise<IssuedCertificate> {
    this.#checkRequest(request);
    const days = checkDays(request.days ?? defaultDays[request.profile]);
    const now = Date.now();
    const notAfter = new Date(now + days * 86_400_000);
    if (notAfter > this.certificate.notAfter) {
      const maxDays = Math.floor((this.certificate.notAfter.getTime() - now) / 86_400_000);
      throw new PkiError("invalid_argument", `--days ${days} would outlive the CA, which expires ${this.certificate.notAfter.toISOString()}; use --days ${maxDays} or less, or rotate the CA.`);
    }
    const sans = request.subjectAltNames ?? [];
    // Tools still display the CN; a server without one is named after its first SAN.
    const commonName = request.commonName ?? (request.profile === "server" ? sans[0]?.value : undefined);
    const signingKey = this.#key();
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      let serial = randomSerial();
      while (state.issued.some((r) => r.serialNumber === canonicalSerial(serial.toString("hex")))) serial = randomSerial();
      const der = signCertificate({
        subject: encodeName(commonName === undefined ? {} : { commonName }),
        issuer: this.certificate.subjectDer,
        publicKey,
        signingKey,
        notBefore: new Date(now - backdateMs),
        notAfter,
        serial,
        extensions: profileExtensions(request.profile, { subjectKey: publicKey, issuerKeyId: this.#keyId, subjectAltNames: sans, subjectEmpty: commonName === undefined }),
      });
      const info = parseCertificate(der);
      const record: IssuedRecord = {
        serialNumber: info.serialNumber,
        subject: info.subjectText,
        profile: request.profile,
        subjectAltNames: sans.map(formatSan),
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

  /** Marks a certificate revoked; it appears in every CRL generated from now on. */
  async revoke(serialHex: string, reason: RevocationReason = "unspecified"): Promise<IssuedRecord> {
    const serial = canonicalSerial(serialHex);
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      const record = state.issued.find((r) => r.serialNumber === serial);
      if (!record) throw new PkiError("certificate_not_found", `This CA has not issued a certificate with serial ${serial}. List them with: pier ca list --dir ${this.dir}`);
      if (record.revoked) throw new PkiError("already_revoked", `Certificate ${serial} was already revoked on ${record.revoked.at} (${record.revoked.reason}).`);
      record.revoked = { at: new Date().toISOString(), reason };
      this.#writeState(state);
      return record;
    });
  }

  /** Signs a new CRL listing every revoked certificate, with the next CRL number. */
  async generateCrl(options: { days?: number } = {}): Promise<{ pem: string; crlNumber: number; nextUpdate: Date }> {
    const days = checkDays(options.days ?? 7);
    const signingKey = this.#key();
    return withLock(caPaths(this.dir).lock, () => {
      const state = this.#readState();
      state.crlNumber += 1;
      const thisUpdate = new Date();
      const nextUpdate = new Date(thisUpdate.getTime() + days * 86_400_000);
      const der = signCrl({
        issuer: this.certificate.subjectDer,
        issuerKeyId: this.#keyId,
        signingKey,
        crlNumber: state.crlNumber,
        thisUpdate,
        nextUpdate,
        revoked: state.issued.flatMap((r) => (r.revoked ? [{ serialNumber: r.serialNumber, revokedAt: new Date(r.revoked.at), reason: r.revoked.reason }] : [])),
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

/** Lowercase hex without separators or leading zero bytes, as the index stores serials. */
export function canonicalSerial(text: string): string {
  const hex = text.replace(/^0x/i, "").replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new PkiError("invalid_argument", `"${text}" is not a hexadecimal serial number.`);
  const even = hex.length % 2 ? `0${hex}` : hex;
  return even.replace(/^(00)+(?=..)/, "");
}
